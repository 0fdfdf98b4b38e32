//! Cluster-key rotation and revocation on real node processes: a running
//! office moves to a new cluster key (install, use, remove, each followed
//! by a SIGHUP to every node) while an observer writes, and a revoked node
//! is shut out by a reload.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, Office, counters, keygen, node_names, target};

fn run(args: &[&str], office: &Office) -> Output {
    Command::new(BIN)
        .args(args)
        .env(
            "OFFICEMESH_OBSERVER_DIR",
            office.dir.path().join("observer"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `officemesh keyring …` on node `i`'s keyring (its config names it).
fn keyring(office: &Office, i: usize, args: &[&str]) -> String {
    let config = office.nodes[i].config.clone();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", path(&config)]);
    ok(
        &run(
            &["keyring"].iter().chain(&all).copied().collect::<Vec<_>>(),
            office,
        ),
        "keyring",
    )
}

fn sighup(office: &Office, i: usize) {
    let pid = office.nodes[i].child.as_ref().unwrap().id();
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
}

/// Waits until node `i` logged `n` reloads in all.
fn wait_reloaded(office: &Office, i: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while office.log(i).matches("configuration reloaded").count() < n {
        assert!(
            Instant::now() < deadline,
            "node {i} did not reload:\n{}",
            office.log(i)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `keyring list --json` through node `via`, as node 0's keyring sees it.
fn key_list(office: &Office, via: usize) -> Option<Value> {
    let config = office.nodes[0].config.clone();
    let addr = office.nodes[via].addr.to_string();
    let out = run(
        &[
            "keyring",
            "list",
            "--json",
            "--timeout",
            "5",
            "--config",
            path(&config),
            "--connect",
            &addr,
        ],
        office,
    );
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn key_entry<'a>(doc: &'a Value, fp: &str) -> Option<&'a Value> {
    doc["keys"]
        .as_array()?
        .iter()
        .find(|k| k["fingerprint"] == fp)
}

fn wait_key_list(office: &Office, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(doc) = key_list(office, 0) {
            if check(&doc) {
                return doc;
            }
            last = doc;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("keyring list never showed {what}; last: {last:#}");
}

fn fingerprint_of(office: &Office, key: &Path) -> String {
    // `keyring list` on a keyring holding only this key names it.
    let dir = office.dir.path().join(format!(
        "probe-{}",
        key.file_name().unwrap().to_str().unwrap()
    ));
    ok(
        &run(
            &["keyring", "install", "--keyring", path(&dir), path(key)],
            office,
        ),
        "probe install",
    );
    let out = ok(
        &run(
            &[
                "keyring",
                "list",
                "--offline",
                "--json",
                "--keyring",
                path(&dir),
            ],
            office,
        ),
        "probe list",
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    doc["keys"][0]["fingerprint"].as_str().unwrap().to_string()
}

/// An observer writing a target in a zone of its own every few hundred
/// milliseconds through any node, with keys from its own keyring, until
/// stopped: each write must be stored. Returns the zones written.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(office: &Office, keyring: PathBuf) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let addrs: Vec<String> = office.nodes.iter().map(|n| n.addr.to_string()).collect();
        let observer = office.dir.path().join("writer");
        let thread = {
            let (stop, written, failures) = (stop.clone(), written.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let zone = format!("rot-{i}");
                    let mut command = Command::new(BIN);
                    command.args([
                        "set",
                        "target",
                        &zone,
                        "20",
                        "--wait",
                        "stored",
                        "--timeout",
                        "20",
                    ]);
                    // Preference order starts at a different node each time.
                    for k in 0..addrs.len() {
                        command.args(["--connect", &addrs[(i + k) % addrs.len()]]);
                    }
                    let out = command
                        .arg("--key")
                        .arg(&keyring)
                        .env("OFFICEMESH_OBSERVER_DIR", &observer)
                        .env("RUST_LOG", "warn")
                        .output()
                        .unwrap();
                    if out.status.success() {
                        written.lock().unwrap().push(zone);
                    } else {
                        failures.lock().unwrap().push(format!(
                            "{zone}: {}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Writer {
            stop,
            written,
            failures,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let written = self.written.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (written, failures)
    }
}

#[test]
fn a_running_office_moves_to_a_new_cluster_key_under_writes() {
    let mut office = Office::joined(5);
    let dir = office.dir.path().to_path_buf();
    let old_key = dir.join("cluster.key");
    let new_key = dir.join("new.key");
    keygen(&new_key);
    let old = fingerprint_of(&office, &old_key);
    let new = fingerprint_of(&office, &new_key);
    // Before any keyring exists, every node advertises the old key.
    let doc = wait_key_list(&office, "5 nodes on the old key", |d| {
        d["nodes"] == 5 && key_entry(d, &old).is_some_and(|k| k["nodes_holding"] == 5)
    });
    assert_eq!(doc["source"], format!("key file {}", old_key.display()));

    // The writing observer's own keyring follows the same three steps.
    let observer_ring = dir.join("observer-keyring");
    let observer = |args: &[&str]| {
        let mut all = vec!["keyring"];
        all.extend_from_slice(args);
        all.extend(["--keyring", path(&observer_ring)]);
        ok(&run(&all, &office), "observer keyring");
    };
    observer(&["install", path(&old_key)]);
    let writer = Writer::start(&office, observer_ring.clone());

    // 1. Install everywhere: accepted, not dialled with yet.
    for i in 0..5 {
        let out = keyring(&office, i, &["install", path(&new_key)]);
        assert!(out.contains(&new), "{out}");
        sighup(&office, i);
    }
    observer(&["install", path(&new_key)]);
    for i in 0..5 {
        wait_reloaded(&office, i, 1);
    }
    wait_key_list(&office, "the new key on 5/5 nodes", |d| {
        let (o, n) = (key_entry(d, &old), key_entry(d, &new));
        o.is_some_and(|o| o["primary"] == true && o["nodes_dialling"] == 5)
            && n.is_some_and(|n| n["nodes_holding"] == 5 && n["missing"] == serde_json::json!([]))
    });

    // 2. Use everywhere: every node dials with the new key.
    for i in 0..5 {
        keyring(&office, i, &["use", &new[..6]]);
        sighup(&office, i);
    }
    observer(&["use", &new]);
    for i in 0..5 {
        wait_reloaded(&office, i, 2);
    }
    wait_key_list(&office, "every node dialling with the new key", |d| {
        key_entry(d, &new).is_some_and(|n| n["primary"] == true && n["nodes_dialling"] == 5)
    });

    // 3. Remove the old key everywhere: links made with it close and come
    // back on the new key.
    for i in 0..5 {
        keyring(&office, i, &["remove", &old]);
        sighup(&office, i);
        wait_reloaded(&office, i, 3);
    }
    observer(&["remove", &old]);
    let doc = wait_key_list(&office, "only the new key, on 5/5", |d| {
        d["keys"].as_array().is_some_and(|k| k.len() == 1)
            && key_entry(d, &new).is_some_and(|n| n["nodes_holding"] == 5)
            && d["elsewhere"] == serde_json::json!([])
    });
    assert!(
        doc["source"].as_str().unwrap().starts_with("keyring"),
        "{doc}"
    );
    // Let the writer go on a little on the new key alone.
    std::thread::sleep(Duration::from_secs(2));
    let (written, failures) = writer.finish();
    assert!(failures.is_empty(), "writes failed: {failures:#?}");
    assert!(written.len() >= 10, "only {} writes", written.len());

    // No node cut off, no write lost: every node sees all five alive and
    // holds every target written.
    for i in 0..5 {
        office.wait_status_with_key(i, &observer_ring, Duration::from_secs(30), |d| {
            let alive = d["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 5 && n.iter().all(|n| n["status"] == "alive"));
            alive && written.iter().all(|z| target(d, z) == Some(20.0))
        });
    }
    let closed: usize = (0..5)
        .map(|i| {
            office
                .log(i)
                .matches("closing a link made with a cluster key no longer in the keyring")
                .count()
        })
        .sum();
    eprintln!(
        "{} writes during the rotation, none failed; {closed} links made with the old key closed on removal",
        written.len()
    );

    // A node holding only the old key is refused.
    let late = office.add("cluster.key");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let doc = office
            .status_with_key(0, &observer_ring)
            .expect("status through node 0");
        assert_eq!(
            node_names(&doc),
            ["n0", "n1", "n2", "n3", "n4"],
            "the old-key node joined"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let c = counters(&office, 0);
    assert!(c["handshakes_unknown_key"].as_u64().unwrap() >= 1, "{c}");
    office.kill(late);
}

#[test]
fn a_revoked_node_is_refused_and_its_links_closed_on_reload() {
    let office = Office::joined(3);
    let doc = office.status(0).unwrap();
    let stolen = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "n2")
        .and_then(|n| n["id"].as_str())
        .unwrap()
        .to_string();
    for i in 0..2 {
        let config = &office.nodes[i].config;
        let mut text = std::fs::read_to_string(config).unwrap();
        // [cluster] is the last table of a generated config.
        text.push_str(&format!("revoked = [\"{stolen}\"]\n"));
        std::fs::write(config, text).unwrap();
        sighup(&office, i);
    }
    for i in 0..2 {
        wait_reloaded(&office, i, 1);
    }
    // The stolen node's links to n0 and n1 are closed, and its redials
    // are refused once the handshake has proven who it is.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let revoked: u64 = (0..2)
            .map(|i| counters(&office, i)["handshakes_revoked"].as_u64().unwrap())
            .sum();
        if revoked >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no handshake of the revoked node was refused"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let closed: usize = (0..2)
        .map(|i| {
            office
                .log(i)
                .matches("closing the link of a revoked replica")
                .count()
        })
        .sum();
    assert!(closed >= 1, "{}\n{}", office.log(0), office.log(1));
    // A write through the revoked node stays there.
    let out = office.observer_cmd(&["set", "target", "vault", "19", "--wait", "stored"], 2);
    ok(&out, "set through the revoked node");
    // (`stored`, not `converged`: the observer still counts the revoked
    // node live until its last clock report ages out.)
    let out = office.observer_cmd(&["set", "target", "hall", "21", "--wait", "stored"], 0);
    ok(&out, "set through n0");
    office.wait_status(1, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(21.0)
    });
    let doc = office.status(1).unwrap();
    assert_eq!(
        target(&doc, "vault"),
        None,
        "the revoked node's write arrived"
    );
}
