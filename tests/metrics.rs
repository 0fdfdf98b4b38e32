//! The metrics endpoint of a real node, with a simulated thermometer and
//! heater and a second node beside it: scraped over HTTP, checked by
//! `promtool check metrics`, and carrying the families an office's
//! monitoring relies on.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, free_port, keygen, write_config};

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of `GET path` at `addr`, if the answer is 200.
fn get(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200 ")
        .then(|| (head.to_string(), body.to_string()))
}

#[test]
fn a_scrape_passes_promtool_and_has_the_expected_families() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("cluster.key"));
    let config = dir.path().join("n0.toml");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(&config, 0, addr, "cluster.key", &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[metrics]\nlisten = \"{metrics}\"\n\
         [[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\ninterval = 1\n\
         [heating]\nrelay = \"simulated\"\nmin_on = 1\nmin_off = 1\n\
         [simulated_room]\ninitial = 15.0\n"
    ));
    std::fs::write(&config, text).unwrap();
    let _node = Killed(
        Command::new(BIN)
            .args(["node", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("n0.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // A second node, so broadcasts arrive and anti-entropy has a neighbour.
    let second = dir.path().join("n1.toml");
    let second_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(&second, 1, second_addr, "cluster.key", &[addr]);
    let _second = Killed(
        Command::new(BIN)
            .args(["node", "--config"])
            .arg(&second)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("n1.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // A target for the node's zone, so the heater has a reason to run.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let set = Command::new(BIN)
            .args(["set", "target", "zone-0", "21", "--wait", "stored"])
            .arg("--connect")
            .arg(addr.to_string())
            .arg("--key")
            .arg(dir.path().join("cluster.key"))
            .env("OFFICEMESH_OBSERVER_DIR", dir.path().join("observer"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        if set.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "set target failed: {}",
            String::from_utf8_lossy(&set.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let wanted = [
        "officemesh_build_info{version=",
        "officemesh_loop_iterations_total ",
        "officemesh_peers{view=\"active\"} ",
        "officemesh_peers{view=\"passive\"} ",
        "officemesh_nodes_known 2",
        "officemesh_transport_sent_bytes_total ",
        "officemesh_transport_received_bytes_total ",
        "officemesh_transport_sent_frames_total ",
        "officemesh_transport_received_frames_total ",
        "officemesh_handshake_failures_total{reason=\"refused\"} ",
        "officemesh_frames_rejected_total{reason=\"oversized\"} ",
        "officemesh_store_commits_total ",
        "officemesh_store_commit_failures_total 0",
        "officemesh_zone_temperature_celsius{zone=\"zone-0\",sensor=",
        "officemesh_zone_target_celsius{zone=\"zone-0\"} 21",
        "officemesh_heater_on{zone=\"zone-0\"} 1",
        "officemesh_broadcasts_sent_total{kind=\"reading\"} ",
        "officemesh_broadcasts_received_total{kind=\"target\"} 0",
        "officemesh_anti_entropy_rounds_total ",
        "officemesh_anti_entropy_sent_bytes_total ",
        "officemesh_anti_entropy_received_bytes_total ",
        "officemesh_anti_entropy_repaired_keys_total ",
        "officemesh_disk_written_bytes_total ",
        "officemesh_store_commit_duration_seconds_bucket{le=\"0.001\"} ",
        "officemesh_store_commit_duration_seconds_bucket{le=\"+Inf\"} ",
        "officemesh_convergence_lag_seconds_bucket{route=\"broadcast\",le=\"+Inf\"} ",
        "officemesh_convergence_lag_seconds_bucket{route=\"anti_entropy\",le=\"0.005\"} ",
    ];
    // Families whose figures must have moved: the node announced itself,
    // the observer's target went out as a broadcast, the second node's
    // announcement came in, commits were timed and anti-entropy ran.
    let moved = [
        "officemesh_broadcasts_sent_total{kind=\"node_announcement\"}",
        "officemesh_broadcasts_sent_total{kind=\"target\"}",
        "officemesh_broadcasts_received_total{kind=\"node_announcement\"}",
        "officemesh_convergence_lag_seconds_count{route=\"broadcast\"}",
        "officemesh_store_commit_duration_seconds_count",
        "officemesh_anti_entropy_sent_bytes_total",
        "officemesh_anti_entropy_received_bytes_total",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let (head, body) = loop {
        if let Some((head, body)) = get(metrics, "/metrics") {
            if wanted.iter().all(|w| body.contains(w))
                && moved
                    .iter()
                    .all(|m| value(&body, m).is_some_and(|v| v > 0.0))
            {
                break (head, body);
            }
            assert!(Instant::now() < deadline, "families missing:\n{body}");
        } else {
            assert!(Instant::now() < deadline, "no answer at {metrics}/metrics");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );

    if !has_promtool() {
        eprintln!("skipped promtool: not found (apt-get install prometheus; .ci/run does)");
        return;
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{body}"
    );
}

#[test]
fn anything_but_a_get_of_metrics_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("cluster.key"));
    let config = dir.path().join("n0.toml");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(&config, 0, addr, "cluster.key", &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[metrics]\nlisten = \"{metrics}\"\n"));
    std::fs::write(&config, text).unwrap();
    let _node = Killed(
        Command::new(BIN)
            .args(["node", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(metrics, "/metrics").is_none() {
        assert!(Instant::now() < deadline, "no metrics endpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = |request: &[u8]| {
        let mut stream = TcpStream::connect(metrics).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(
        status(b"GET /nope HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        status(b"POST /metrics HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(
        status(huge.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // Still serving after all that.
    assert!(get(metrics, "/metrics").is_some());
}

/// The value of the sample named exactly `name` (labels included).
fn value(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn has_promtool() -> bool {
    Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
