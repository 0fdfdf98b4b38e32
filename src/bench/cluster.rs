//! N real `officemesh node` processes on 127.0.0.2, 127.0.0.3, … with
//! generated configs and one cluster key in a scratch directory. Dropping
//! the [`Cluster`] kills every process and removes the directory, also
//! when the benchmark fails or is interrupted.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::BenchError;
use crate::net::ClusterKey;
use crate::node::stats;

/// One node process.
#[derive(Debug)]
pub struct BenchNode {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Child,
}

impl BenchNode {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

#[derive(Debug)]
pub struct Cluster {
    pub dir: PathBuf,
    exe: PathBuf,
    pub key: ClusterKey,
    pub nodes: Vec<BenchNode>,
    keep_dir: bool,
}

/// The loopback address of node `i`: 127.0.0.2 upwards, skipping .0, .1
/// and .255 of each /24.
pub fn node_ip(i: usize) -> Ipv4Addr {
    let (hi, lo) = (i / 253, i % 253 + 2);
    Ipv4Addr::new(127, 0, hi as u8, lo as u8)
}

/// A port free on `ip` at this moment (bound, then released for the node).
fn free_port(ip: Ipv4Addr) -> Result<u16, BenchError> {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| BenchError::Io {
            what: format!("finding a free port on {ip}"),
            source,
        })
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

/// What every node's config has beyond its address and seeds.
#[derive(Clone, Debug, Default)]
pub struct NodeSetup {
    /// Every node measures a simulated room of its own ([`sensor_tables`]).
    pub sensors: bool,
    /// `[gossip] batch_window_ms`; `None` keeps the default.
    pub batch_window_ms: Option<u64>,
    /// `[gossip] batch_burst`; `None` keeps the default.
    pub batch_burst: Option<u32>,
}

/// The device tables of a working office's node `i`: one simulated
/// thermometer sampled at the default interval, in a room of its own (its
/// own noise seed). The deadband is zero so that every sample is
/// published: the office's steady load is one reading per node per
/// interval, whatever the room's temperature does.
pub fn sensor_tables(i: usize) -> String {
    format!(
        "\n[[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\n\
         deadband = {{ temperature = 0.0 }}\n\n[simulated_room]\nseed = {i}\n"
    )
}

impl Cluster {
    /// Writes the key and `n` configs, then starts the processes; every
    /// node after the first joins through the first. `setup` adds to every
    /// node's config.
    pub fn start(
        exe: &Path,
        n: usize,
        setup: &NodeSetup,
        keep_dir: bool,
    ) -> Result<Cluster, BenchError> {
        let dir = std::env::temp_dir().join(format!("officemesh-bench-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(format!("clearing {}", dir.display())))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let key = ClusterKey::generate();
        let mut cluster = Cluster {
            dir,
            exe: exe.to_path_buf(),
            key,
            nodes: Vec::with_capacity(n),
            keep_dir,
        };
        let key_path = cluster.dir.join("cluster.key");
        cluster
            .key
            .write_new(&key_path)
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        for i in 0..n {
            let ip = node_ip(i);
            let addr = SocketAddr::new(ip.into(), free_port(ip)?);
            let seeds = match cluster.nodes.first() {
                Some(first) => format!("[\"{}\"]", first.addr),
                None => "[]".to_string(),
            };
            let data_dir = cluster.dir.join(format!("data-{i}"));
            let config = cluster.dir.join(format!("n{i}.toml"));
            let mut text = format!(
                "[node]\nname = \"bench-{i}\"\nzone = \"zone-{i}\"\nlisten = \"{addr}\"\n\
                 data_dir = \"data-{i}\"\n\n[cluster]\nkey_file = \"cluster.key\"\nseeds = {seeds}\n"
            );
            let mut gossip = String::new();
            if let Some(ms) = setup.batch_window_ms {
                gossip.push_str(&format!("batch_window_ms = {ms}\n"));
            }
            if let Some(burst) = setup.batch_burst {
                gossip.push_str(&format!("batch_burst = {burst}\n"));
            }
            if !gossip.is_empty() {
                text.push_str(&format!("\n[gossip]\n{gossip}"));
            }
            if setup.sensors {
                text.push_str(&sensor_tables(i));
            }
            std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
            let log = cluster.dir.join(format!("n{i}.log"));
            let child = spawn_node(exe, &config, &log)?;
            cluster.nodes.push(BenchNode {
                addr,
                data_dir,
                config,
                log,
                child,
            });
        }
        Ok(cluster)
    }

    /// Kills node `i` (SIGKILL, as a power cut would) and reaps it.
    pub fn kill(&mut self, i: usize) -> Result<(), BenchError> {
        let node = &mut self.nodes[i];
        node.child.kill().map_err(io(format!("killing node {i}")))?;
        node.child.wait().map_err(io(format!("reaping node {i}")))?;
        Ok(())
    }

    /// Starts node `i` again from its config and data directory (its log
    /// goes on).
    pub fn restart(&mut self, i: usize) -> Result<(), BenchError> {
        let node = &mut self.nodes[i];
        node.child = spawn_node(&self.exe, &node.config, &node.log)?;
        Ok(())
    }

    /// The first node that has exited, if any (a crash spoils the figures).
    pub fn exited(&mut self) -> Option<(usize, std::process::ExitStatus)> {
        self.nodes
            .iter_mut()
            .enumerate()
            .find_map(|(i, n)| n.child.try_wait().ok().flatten().map(|s| (i, s)))
    }

    /// Every node's stats: SIGUSR1 to all, then each node's fresh file.
    pub async fn stats(&mut self) -> Result<Vec<stats::NodeStats>, BenchError> {
        for node in &self.nodes {
            let path = stats::stats_path(&node.data_dir);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("removing {}", path.display()))(e)),
            }
        }
        let status = Command::new("kill")
            .arg("-USR1")
            .args(self.nodes.iter().map(|n| n.pid().to_string()))
            .status()
            .map_err(io("running kill -USR1"))?;
        if !status.success() {
            return Err(BenchError::Setup(format!("kill -USR1 failed: {status}")));
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut out = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            loop {
                match stats::read_stats(&node.data_dir) {
                    Ok(c) => {
                        out.push(c);
                        break;
                    }
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(BenchError::Setup(format!(
                            "node {i} wrote no counters: {e}"
                        )));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                }
            }
        }
        Ok(out)
    }
}

/// Starts one node process from `config`, appending its stderr to `log`.
fn spawn_node(exe: &Path, config: &Path, log: &Path) -> Result<Child, BenchError> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(format!("opening {}", log.display())))?;
    Command::new(exe)
        .args(["node", "--announce-loopback", "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("OFFICEMESH_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(io(format!("starting {}", exe.display())))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        if self.keep_dir {
            tracing::info!(dir = %self.dir.display(), "kept the benchmark directory");
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_tables_parse_as_a_node_config_with_one_simulated_sensor() {
        let text = format!(
            "[node]\nzone = \"z\"\n[cluster]\nseeds = []\n{}",
            sensor_tables(3)
        );
        let config = crate::config::Config::parse(&text, Path::new("n3.toml")).unwrap();
        assert_eq!(config.sensor.len(), 1);
        assert_eq!(config.sensor[0].interval, 30);
        assert_eq!(config.sensor[0].deadband.temperature, 0.0);
        assert_eq!(config.simulated_room.unwrap().seed, 3);
    }

    #[test]
    fn node_ips_stay_inside_loopback_and_skip_network_and_broadcast() {
        assert_eq!(node_ip(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(node_ip(1), Ipv4Addr::new(127, 0, 0, 3));
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let ip = node_ip(i);
            assert!(ip.is_loopback());
            let last = ip.octets()[3];
            assert!(last != 0 && last != 255, "{ip}");
            assert!(ip != Ipv4Addr::LOCALHOST);
            assert!(seen.insert(ip), "{ip} twice");
        }
    }
}
