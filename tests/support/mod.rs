//! Real `officemesh node` processes on loopback for the end-to-end tests:
//! generated configs in a temp dir, a shared cluster key, and `status`
//! through any node. Every process is killed when the `Office` drops,
//! whether the test passed or not.
#![allow(dead_code)] // each test crate uses a different part

pub mod raw_peer;
pub mod tmux;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_officemesh");

/// A free loopback port (bound, then released for the node to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Office {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    /// Start nodes with `--announce-loopback`, so their `lo` interface
    /// (and its all-zero MAC) is in their `Node` entry.
    pub announce_loopback: bool,
    /// Run every node and observer inside this network namespace
    /// (`ip netns exec`), whose loopback the test may shape with `tc`.
    pub netns: Option<String>,
    /// TOML appended to every node's config written after it is set
    /// (e.g. a `[gossip]` or `[targets.temperature]` section).
    pub extra_config: String,
}

pub struct NodeProc {
    pub config: PathBuf,
    pub addr: SocketAddr,
    pub child: Option<Child>,
    /// Environment variables this node (and only it) starts with.
    pub env: Vec<(String, String)>,
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

/// Writes node `i`'s config: name `n{i}`, zone `zone-{i}`, data in
/// `data-{i}` and `key` (a path) both relative to the config's directory.
pub fn write_config(path: &Path, i: usize, listen: SocketAddr, key: &str, seeds: &[SocketAddr]) {
    let seeds: Vec<String> = seeds.iter().map(|s| format!("\"{s}\"")).collect();
    let seeds = seeds.join(", ");
    std::fs::write(
        path,
        format!(
            "[node]\nname = \"n{i}\"\nzone = \"zone-{i}\"\nlisten = \"{listen}\"\ndata_dir = \"data-{i}\"\n\
             [cluster]\nkey_file = \"{key}\"\nseeds = [{seeds}]\n"
        ),
    )
    .unwrap();
}

pub fn keygen(path: &Path) {
    let ok = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The binary, run inside `netns` when one is given.
fn command_in(netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    }
}

impl Office {
    pub fn new() -> Office {
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("cluster.key"));
        Office {
            dir,
            nodes: Vec::new(),
            announce_loopback: false,
            netns: None,
            extra_config: String::new(),
        }
    }

    /// `n` nodes on the shared cluster key, returned once node 0's
    /// replica lists every one of them (`n0`, `n1`, …).
    pub fn joined(n: usize) -> Office {
        let mut office = Office::new();
        for _ in 0..n {
            office.add("cluster.key");
        }
        let all: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        office.wait_status(0, Duration::from_secs(30), |d| node_names(d) == all);
        office
    }

    /// Adds and starts a node seeded at the first node; `key` names the
    /// cluster key file in the office directory.
    pub fn add(&mut self, key: &str) -> usize {
        let i = self.add_stopped(key);
        self.start(i);
        i
    }

    /// Adds a node like [`Office::add`] without starting it (its data
    /// directory may be prepared first).
    pub fn add_stopped(&mut self, key: &str) -> usize {
        let i = self.nodes.len();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let seeds: Vec<SocketAddr> = self.nodes.first().map(|n| n.addr).into_iter().collect();
        let config = self.dir.path().join(format!("n{i}.toml"));
        write_config(&config, i, addr, key, &seeds);
        if !self.extra_config.is_empty() {
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&self.extra_config);
            std::fs::write(&config, text).unwrap();
        }
        self.nodes.push(NodeProc {
            config,
            addr,
            child: None,
            env: Vec::new(),
        });
        i
    }

    /// Has node `i` (added, not started yet) serve `/metrics` on a free
    /// loopback port; returns the address.
    pub fn serve_metrics(&mut self, i: usize) -> SocketAddr {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut text = std::fs::read_to_string(&self.nodes[i].config).unwrap();
        text.push_str(&format!("\n[metrics]\nlisten = \"{addr}\"\n"));
        std::fs::write(&self.nodes[i].config, text).unwrap();
        addr
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("data-{i}"))
    }

    /// What node `i` has logged so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{i}.log"))).unwrap_or_default()
    }

    /// Whether node `i`'s process is still running.
    pub fn running(&mut self, i: usize) -> bool {
        self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()))
    }

    pub fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{i}.log")))
            .unwrap();
        let mut command = command_in(self.netns.as_deref());
        command.args(["node", "--config"]).arg(&node.config);
        if self.announce_loopback {
            command.arg("--announce-loopback");
        }
        command.envs(node.env.iter().map(|(k, v)| (k, v)));
        node.child = Some(
            command
                .env(
                    "RUST_LOG",
                    std::env::var("OFFICEMESH_TEST_NODE_LOG").unwrap_or_else(|_| "info".into()),
                )
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn observer_cmd(&self, args: &[&str], node: usize) -> Output {
        self.observer_cmd_with_key(args, node, &self.dir.path().join("cluster.key"))
    }

    /// [`Office::observer_cmd`] with another key file or keyring directory.
    pub fn observer_cmd_with_key(&self, args: &[&str], node: usize, key: &Path) -> Output {
        command_in(self.netns.as_deref())
            .args(args)
            .arg("--connect")
            .arg(self.nodes[node].addr.to_string())
            .arg("--key")
            .arg(key)
            .env("OFFICEMESH_OBSERVER_DIR", self.dir.path().join("observer"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    pub fn status(&self, node: usize) -> Option<Value> {
        self.status_with_key(node, &self.dir.path().join("cluster.key"))
    }

    /// `status` through `node` with another key file or keyring directory.
    pub fn status_with_key(&self, node: usize, key: &Path) -> Option<Value> {
        let out = self.observer_cmd_with_key(&["status", "--json", "--timeout", "5"], node, key);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls `status` through `node` until `check` holds.
    pub fn wait_status(
        &self,
        node: usize,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_status_with_key(node, &self.dir.path().join("cluster.key"), within, check)
    }

    /// [`Office::wait_status`] with another key file or keyring directory.
    pub fn wait_status_with_key(
        &self,
        node: usize,
        key: &Path,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some(doc) = self.status_with_key(node, key) {
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

pub fn node_names(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

pub fn target(doc: &Value, zone: &str) -> Option<f64> {
    doc["targets"]
        .as_array()?
        .iter()
        .find(|t| t["zone"] == zone)
        .and_then(|t| t["value"].as_f64())
}

/// The node's transport counters, which it writes to its data directory
/// on SIGUSR1.
pub fn counters(office: &Office, node: usize) -> Value {
    let pid = office.nodes[node].child.as_ref().unwrap().id();
    let path = office
        .dir
        .path()
        .join(format!("data-{node}"))
        .join("net-counters.json");
    let _ = std::fs::remove_file(&path);
    let ok = Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(doc) = serde_json::from_slice(&bytes)
        {
            return doc;
        }
        assert!(Instant::now() < deadline, "no counters from node {node}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sum of every sample of metric `name` (its `_total` for a counter)
/// whose line contains `label` ("" for any), as the node at `addr` serves
/// it.
pub fn metric(addr: SocketAddr, name: &str, label: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let metric = l.split([' ', '{']).next().unwrap_or_default();
            (metric == name || metric == format!("{name}_total")) && l.contains(label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A process's resident set in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The cluster key in a key file (64 hex digits).
pub fn read_cluster_key(path: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim();
    let mut psk = [0u8; 32];
    for (i, byte) in psk.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    psk
}
