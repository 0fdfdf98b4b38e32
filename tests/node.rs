//! Real `officemesh node` processes on loopback, driven through the
//! `status` and `set` commands.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_officemesh");

/// A free loopback port (bound, then released for the node to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Office {
    dir: tempfile::TempDir,
    nodes: Vec<NodeProc>,
}

struct NodeProc {
    config: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Drop for Office {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn keygen(path: &Path) {
    let ok = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

impl Office {
    fn new() -> Office {
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("cluster.key"));
        Office {
            dir,
            nodes: Vec::new(),
        }
    }

    /// Adds and starts a node seeded at the first node; `key` names the
    /// cluster key file in the office directory.
    fn add(&mut self, key: &str) -> usize {
        let i = self.nodes.len();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let seeds = match self.nodes.first() {
            Some(first) => format!("[\"{}\"]", first.addr),
            None => "[]".into(),
        };
        let config = self.dir.path().join(format!("n{i}.toml"));
        std::fs::write(
            &config,
            format!(
                "[node]\nname = \"n{i}\"\nzone = \"zone-{i}\"\nlisten = \"{addr}\"\ndata_dir = \"data-{i}\"\n\
                 [cluster]\nkey_file = \"{key}\"\nseeds = {seeds}\n"
            ),
        )
        .unwrap();
        self.nodes.push(NodeProc {
            config,
            addr,
            child: None,
        });
        self.start(i);
        i
    }

    fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::File::create(self.dir.path().join(format!("n{i}.log"))).unwrap();
        node.child = Some(
            Command::new(BIN)
                .args(["node", "--config"])
                .arg(&node.config)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn observer_cmd(&self, args: &[&str], node: usize) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--connect")
            .arg(self.nodes[node].addr.to_string())
            .arg("--key")
            .arg(self.dir.path().join("cluster.key"))
            .env("OFFICEMESH_OBSERVER_DIR", self.dir.path().join("observer"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    fn status(&self, node: usize) -> Option<Value> {
        let out = self.observer_cmd(&["status", "--json", "--timeout", "5"], node);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls `status` through `node` until `check` holds.
    fn wait_status(&self, node: usize, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some(doc) = self.status(node) {
                if check(&doc) {
                    return doc;
                }
                last = doc;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("status through node {node} never satisfied the check; last: {last:#}");
    }
}

fn node_names(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

fn target(doc: &Value, zone: &str) -> Option<f64> {
    doc["targets"]
        .as_array()?
        .iter()
        .find(|t| t["zone"] == zone)
        .and_then(|t| t["value"].as_f64())
}

#[test]
fn five_nodes_converge_and_a_target_reaches_every_node() {
    let mut office = Office::new();
    for _ in 0..5 {
        office.add("cluster.key");
    }
    let all = ["n0", "n1", "n2", "n3", "n4"];
    for i in 0..5 {
        office.wait_status(i, Duration::from_secs(30), |d| node_names(d) == all);
    }
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            "lab",
            "21.5",
            "--wait",
            "converged",
            "--timeout",
            "20",
        ],
        2,
    );
    assert!(
        out.status.success(),
        "set failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("converged: 5/5"));
    for i in 0..5 {
        office.wait_status(i, Duration::from_secs(10), |d| {
            target(d, "lab") == Some(21.5)
        });
    }
    // Out of range: refused with the range, exit code 1, nothing written.
    let out = office.observer_cmd(&["set", "target", "lab", "99"], 0);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("5..=30"));
    let doc = office.status(4).unwrap();
    assert_eq!(target(&doc, "lab"), Some(21.5));
}

#[test]
fn a_node_killed_and_restarted_keeps_its_id_state_and_dots() {
    let mut office = Office::new();
    office.add("cluster.key");
    office.add("cluster.key");
    office.wait_status(1, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1"]
    });
    let out = office.observer_cmd(&["set", "target", "hall", "19", "--wait", "stored"], 1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = office.wait_status(1, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(19.0)
    });
    let id = before["attached_to"]["id"].as_str().unwrap().to_string();
    let own_counter = |doc: &Value, id: &str| doc["own_version_vector"][id].as_u64().unwrap_or(0);
    let counter_before = own_counter(&before, &id);
    assert!(counter_before > 0);

    office.kill(1);
    office.start(1);
    let after = office.wait_status(1, Duration::from_secs(30), |d| {
        target(d, "hall") == Some(19.0)
    });
    assert_eq!(after["attached_to"]["id"].as_str(), Some(id.as_str()));
    assert!(own_counter(&after, &id) >= counter_before);
    // A new write after the restart gets a dot above every earlier one, and
    // the other node learns it.
    let out = office.observer_cmd(&["set", "target", "hall", "20", "--wait", "converged"], 1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    office.wait_status(0, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(20.0) && own_counter(d, &id) > counter_before
    });
}

#[test]
fn a_peer_with_the_wrong_key_is_refused_and_changes_nothing() {
    let mut office = Office::new();
    office.add("cluster.key");
    keygen(&office.dir.path().join("wrong.key"));
    office.add("wrong.key");
    // An observer with the wrong key learns nothing.
    let out = Command::new(BIN)
        .args(["status", "--json", "--timeout", "3", "--connect"])
        .arg(office.nodes[0].addr.to_string())
        .arg("--key")
        .arg(office.dir.path().join("wrong.key"))
        .env(
            "OFFICEMESH_OBSERVER_DIR",
            office.dir.path().join("intruder"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    // The wrong-key node keeps trying; nothing of it shows up.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let doc = office.status(0).expect("status through the good node");
        assert_eq!(node_names(&doc), ["n0"]);
        std::thread::sleep(Duration::from_millis(300));
    }
}
