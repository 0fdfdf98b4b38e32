//! The node as a systemd service: the unit file passes
//! `systemd-analyze verify`, and the real binary started with a
//! `NOTIFY_SOCKET` of the test's own sends `READY=1`, a `STATUS=` line and
//! watchdog pings, which stop when its loop is wedged.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, free_port, keygen, write_config};

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    if !has("systemd-analyze") {
        eprintln!("skipped: systemd-analyze not found (apt-get install systemd; .ci/run does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The unit as shipped, but starting the binary under test: verify
    // checks that ExecStart= names an executable.
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/officemesh.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/officemesh node"));
    let unit = unit.replace("ExecStart=/usr/bin/officemesh", &format!("ExecStart={BIN}"));
    let path = dir.path().join("officemesh.service");
    std::fs::write(&path, unit).unwrap();
    // verify also checks that Documentation=man:officemesh(1) exists: the
    // page the binary generates, on a MANPATH of the test's own.
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    let page = Command::new(BIN).arg("man").output().unwrap();
    assert!(page.status.success());
    std::fs::write(man1.join("officemesh.1"), &page.stdout).unwrap();
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify");
    if !has("man") {
        eprintln!("man not found (apt-get install man-db): the man page is not checked");
        verify.arg("--man=no");
    }
    let out = verify
        .arg(&path)
        .env("MANPATH", dir.path().join("man"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("officemesh.service"),
        "systemd-analyze verify warned about the unit:\n{stderr}"
    );
}

/// One node, alone, with `extra` environment.
fn start_node(dir: &Path, socket: &Path, extra: &[(&str, &str)]) -> Child {
    keygen(&dir.join("cluster.key"));
    let config = dir.join("n0.toml");
    let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(&config, 0, addr, "cluster.key", &[]);
    let mut command = Command::new(BIN);
    command
        .args(["node", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", socket)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("n0.log")).unwrap());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().unwrap()
}

/// Every datagram received until `until`, with when it arrived.
fn collect(socket: &UnixDatagram, start: Instant, until: Duration) -> Vec<(Duration, String)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < until {
        socket
            .set_read_timeout(Some(
                (until - start.elapsed()).max(Duration::from_millis(1)),
            ))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            got.push((
                start.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ready_status_and_watchdog_pings_that_stop_when_the_loop_is_wedged() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    // Watchdog every 3 s: pings every 1.5 s, the loop ticking at least
    // every second. The loop stops 6 s after start.
    let start = Instant::now();
    let mut node = Killed(start_node(
        dir.path(),
        &socket_path,
        &[
            ("WATCHDOG_USEC", "3000000"),
            ("OFFICEMESH_TEST_WEDGE_AFTER_MS", "6000"),
        ],
    ));
    let got = collect(&socket, start, Duration::from_secs(13));
    let log = std::fs::read_to_string(dir.path().join("n0.log")).unwrap_or_default();
    let ready = got
        .iter()
        .position(|(_, m)| m.lines().any(|l| l == "READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 in {got:?}\nlog:\n{log}"));
    assert!(
        got[ready]
            .1
            .lines()
            .any(|l| l == "STATUS=no neighbours yet, 1 node known, nothing heating"),
        "READY=1 came without a readable STATUS=: {got:?}"
    );
    let pings: Vec<Duration> = got
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    // The wedge is 6 s after the node's start, which is after `start`.
    let wedged_by = Duration::from_millis(6000) + got[ready].0;
    let before = pings
        .iter()
        .filter(|at| **at < Duration::from_secs(6))
        .count();
    assert!(
        before >= 2,
        "expected pings every 1.5 s before the wedge: {pings:?}"
    );
    // One more ping may follow the wedge (the loop ticked since the last
    // one); then none, for longer than the watchdog interval.
    let last = *pings.last().unwrap();
    assert!(
        last <= wedged_by + Duration::from_millis(2000),
        "pings went on after the loop was wedged: {pings:?} (wedged by {wedged_by:?})\nlog:\n{log}"
    );
    assert!(
        node.0.try_wait().unwrap().is_none(),
        "the process must still run: only its loop is stuck"
    );
    assert!(
        log.contains("no watchdog ping"),
        "the stall is logged:\n{log}"
    );
}

#[test]
fn sigterm_says_stopping_and_the_node_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let start = Instant::now();
    let mut node = Killed(start_node(dir.path(), &socket_path, &[]));
    let mut buf = [0u8; 4096];
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = socket.recv(&mut buf).expect("READY=1 within 10 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let ok = Command::new("kill")
        .args(["-TERM", &node.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let got = collect(&socket, start, start.elapsed() + Duration::from_secs(3));
    assert!(
        got.iter()
            .any(|(_, m)| m.lines().any(|l| l == "STOPPING=1")),
        "no STOPPING=1 after SIGTERM: {got:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn sighup_says_reloading_then_ready_and_a_broken_config_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let start = Instant::now();
    let mut node = Killed(start_node(dir.path(), &socket_path, &[]));
    let mut buf = [0u8; 4096];
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = socket.recv(&mut buf).expect("READY=1 within 10 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let reload_messages = |got: &[(Duration, String)]| -> (Option<usize>, Option<usize>) {
        let reloading = got
            .iter()
            .position(|(_, m)| m.lines().any(|l| l == "RELOADING=1"));
        let ready = got.iter().position(|(_, m)| {
            m.lines().any(|l| l == "READY=1") && m.lines().any(|l| l.starts_with("STATUS=reload"))
        });
        (reloading, ready)
    };
    // A good reload: RELOADING=1 with its MONOTONIC_USEC=, then READY=1.
    hup(node.0.id());
    let got = collect(&socket, start, start.elapsed() + Duration::from_secs(2));
    let (reloading, ready) = reload_messages(&got);
    let (reloading, ready) = (
        reloading.unwrap_or_else(|| panic!("no RELOADING=1 after SIGHUP: {got:?}")),
        ready.unwrap_or_else(|| panic!("no READY=1 after the reload: {got:?}")),
    );
    assert!(reloading <= ready, "{got:?}");
    assert!(
        got[reloading]
            .1
            .lines()
            .any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{got:?}"
    );
    assert!(
        got[ready].1.contains("STATUS=reloaded: 1 cluster key"),
        "{got:?}"
    );
    // A broken config: the node says so, stays up and ready.
    std::fs::write(dir.path().join("n0.toml"), "[node\n").unwrap();
    hup(node.0.id());
    let got = collect(&socket, start, start.elapsed() + Duration::from_secs(2));
    let (_, ready) = reload_messages(&got);
    let ready = ready.unwrap_or_else(|| panic!("no READY=1 after the failed reload: {got:?}"));
    assert!(got[ready].1.contains("STATUS=reload failed"), "{got:?}");
    assert!(
        node.0.try_wait().unwrap().is_none(),
        "the node must keep running"
    );
    let log = std::fs::read_to_string(dir.path().join("n0.log")).unwrap_or_default();
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(log.contains("was not reloaded"), "{log}");
}
