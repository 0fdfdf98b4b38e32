//! `officemesh bridge mqtt` against a real Mosquitto broker on a loopback
//! port, with real nodes, watched and commanded with the real
//! `mosquitto_sub` and `mosquitto_pub`, as Home Assistant would.
//!
//! Needs the Debian packages `mosquitto` and `mosquitto-clients`
//! (`.ci/run` installs them); without them each test says so and skips.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{BIN, free_port, keygen, node_names, target};

/// Whether the broker and its clients are installed; says why not.
fn mosquitto_available() -> bool {
    for tool in ["mosquitto", "mosquitto_sub", "mosquitto_pub"] {
        let found = Command::new("sh")
            .args([
                "-c",
                &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
            ])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!(
                "skipped: `{tool}` is not installed (apt-get install mosquitto mosquitto-clients; .ci/run does)"
            );
            return false;
        }
    }
    true
}

fn mosquitto_bin() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A Mosquitto broker on a free loopback port, without persistence: a
/// restart loses every retained message, as a broker on a tmpfs would.
struct Broker {
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, "allow_anonymous true\n")
    }

    /// A broker whose listener has the settings `listener` (TLS, passwords).
    fn start_with(dir: &Path, listener: &str) -> Broker {
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        // `user root`: started as root (CI), mosquitto would otherwise
        // switch to its own user, who cannot read the test's directory.
        std::fs::write(
            &config,
            format!("user root\npersistence false\nlistener {port} 127.0.0.1\n{listener}"),
        )
        .unwrap();
        let mut broker = Broker {
            port,
            config,
            log: dir.join("mosquitto.log"),
            child: None,
        };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            Command::new(mosquitto_bin())
                .arg("-c")
                .arg(&self.config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("starting mosquitto"),
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restart(&mut self) {
        kill(&mut self.child);
        self.run();
    }

    fn publish(&self, topic: &str, payload: &str) {
        let ok = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1"])
            .args(["-t", topic, "-m", payload])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mosquitto_pub {topic}");
    }

    /// Every retained message under `filter`, as a fresh subscriber (Home
    /// Assistant starting up) gets them.
    fn retained(&self, filter: &str) -> BTreeMap<String, String> {
        let out = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-t",
                filter,
                "--retained-only",
                "-W",
                "1",
                "-F",
                "%r\t%t\t%p",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let (retained, topic, payload) = (parts.next()?, parts.next()?, parts.next()?);
                (retained == "1").then(|| (topic.to_string(), payload.to_string()))
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// One message as `mosquitto_sub` printed it, with when it arrived.
#[derive(Clone, Debug)]
struct Msg {
    at_ms: u64,
    retained: bool,
    topic: String,
    payload: String,
}

/// A `mosquitto_sub` on `#`, recording everything it prints.
struct Subscriber {
    child: Option<Child>,
    seen: Arc<Mutex<Vec<Msg>>>,
}

impl Subscriber {
    fn start(broker: &Broker) -> Subscriber {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .args(["-t", "#", "-F", "%r\t%t\t%p"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let mut parts = line.splitn(3, '\t');
                let (Some(r), Some(t), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                sink.lock().unwrap().push(Msg {
                    at_ms: wall_ms(),
                    retained: r == "1",
                    topic: t.to_string(),
                    payload: p.to_string(),
                });
            }
        });
        // Subscribed once the broker holds its connection; a retained
        // probe comes back when it is.
        let probe = format!("test/probe/{}", free_port());
        let sub = Subscriber {
            child: Some(child),
            seen,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            broker.publish(&probe, "1");
            if sub.find(0, |m| m.topic == probe).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "mosquitto_sub never subscribed");
            std::thread::sleep(Duration::from_millis(50));
        }
        sub
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn find(&self, from: usize, check: impl Fn(&Msg) -> bool) -> Option<(usize, Msg)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .enumerate()
            .skip(from)
            .find(|(_, m)| check(m))
            .map(|(i, m)| (i, m.clone()))
    }

    /// The first message at index `from` or later that passes `check`.
    fn wait(
        &self,
        from: usize,
        within: Duration,
        what: &str,
        check: impl Fn(&Msg) -> bool,
    ) -> (usize, Msg) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = self.find(from, &check) {
                return found;
            }
            if Instant::now() >= deadline {
                let seen = self.seen.lock().unwrap();
                let tail: Vec<String> = seen
                    .iter()
                    .rev()
                    .take(20)
                    .map(|m| format!("{} {}", m.topic, m.payload))
                    .collect();
                panic!("never saw {what} within {within:?}; last messages: {tail:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Nodes with simulated rooms, thermometers and heaters, and a bridge,
/// all killed on drop.
struct Office {
    dir: tempfile::TempDir,
    nodes: Vec<(SocketAddr, Option<Child>)>,
    bridge: Option<Child>,
    /// Appended to every node's config.
    node_extra: String,
    /// More bridges, beside `bridge`.
    others: Vec<Child>,
}

impl Office {
    fn new() -> Office {
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("cluster.key"));
        Office {
            dir,
            nodes: Vec::new(),
            bridge: None,
            node_extra: String::new(),
            others: Vec::new(),
        }
    }

    /// A node named `pi-{zone}` in `zone`; `devices`: a thermometer
    /// sampled every second whose every change is published, and a heater.
    fn add_node(&mut self, zone: &str, devices: bool) {
        let i = self.nodes.len();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let seeds: Vec<String> = self
            .nodes
            .first()
            .map(|(a, _)| format!("\"{a}\""))
            .into_iter()
            .collect();
        let mut config = format!(
            "[node]\nname = \"pi-{zone}\"\nzone = \"{zone}\"\nlisten = \"{addr}\"\ndata_dir = \"data-{i}\"\n\
             [cluster]\nkey_file = \"cluster.key\"\nseeds = [{}]\n",
            seeds.join(", ")
        );
        if devices {
            config.push_str(
                "[[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\ninterval = 1\n\
                 deadband = { temperature = 0.0 }\n\
                 [heating]\nrelay = \"simulated\"\n\
                 [simulated_room]\nnoise = 0.3\n",
            );
        }
        config.push_str(&self.node_extra);
        let path = self.dir.path().join(format!("n{i}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(self.dir.path().join(format!("n{i}.log"))).unwrap();
        let child = Command::new(BIN)
            .args(["node", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes.push((addr, Some(child)));
    }

    fn kill_node(&mut self, i: usize) {
        kill(&mut self.nodes[i].1);
    }

    /// Starts the bridge attached to the first node.
    fn start_bridge(&mut self, broker: &Broker) {
        self.start_bridge_with(
            broker,
            "host = \"127.0.0.1\"\nclient_id = \"officemesh-test-bridge\"\nkeep_alive = 5\n",
        );
    }

    /// Starts the bridge with `mqtt` as its `[mqtt]` table (less the port).
    fn start_bridge_with(&mut self, broker: &Broker, mqtt: &str) {
        self.bridge = Some(self.spawn_bridge(broker, "bridge", mqtt));
    }

    /// A bridge process whose config, log and observer directory are
    /// named after `name`.
    fn spawn_bridge(&self, broker: &Broker, name: &str, mqtt: &str) -> Child {
        let config = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[cluster]\nkey_file = \"cluster.key\"\n[mqtt]\nport = {}\n{mqtt}",
                broker.port
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["bridge", "mqtt", "--config"])
            .arg(&config)
            .arg("--observer-dir")
            .arg(self.dir.path().join(format!("{name}-observer")));
        for (addr, _) in &self.nodes {
            command.arg("--connect").arg(addr.to_string());
        }
        command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn status(&self, node: usize) -> Option<Value> {
        let out = Command::new(BIN)
            .args(["status", "--json", "--timeout", "5", "--connect"])
            .arg(self.nodes[node].0.to_string())
            .arg("--key")
            .arg(self.dir.path().join("cluster.key"))
            .env(
                "OFFICEMESH_OBSERVER_DIR",
                self.dir.path().join("status-observer"),
            )
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

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

    fn bridge_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bridge.log")).unwrap_or_default()
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        kill(&mut self.bridge);
        for child in self.others.drain(..) {
            kill(&mut Some(child));
        }
        for (_, child) in &mut self.nodes {
            kill(child);
        }
    }
}

fn json(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}

/// The topics a discovery config names for Home Assistant to read.
fn state_topics(config: &Value) -> Vec<String> {
    let mut topics: Vec<String> = [
        "state_topic",
        "current_temperature_topic",
        "temperature_state_topic",
        "mode_state_topic",
        "action_topic",
        "json_attributes_topic",
    ]
    .iter()
    .filter_map(|k| config[*k].as_str().map(String::from))
    .collect();
    for a in config["availability"].as_array().into_iter().flatten() {
        topics.extend(a["topic"].as_str().map(String::from));
    }
    topics
}

#[test]
fn home_assistant_sees_the_office_and_sets_its_targets() {
    if !mosquitto_available() {
        return;
    }
    let mut office = Office::new();
    let broker = Broker::start(office.dir.path());
    // The nodes accept less than the bridge offers (its config has the
    // default 5..=30): a value between is refused by the node itself.
    office.node_extra = "[targets.temperature]\nmin = 5.0\nmax = 25.0\nstep = 0.5\n".into();
    office.add_node("lab", true);
    office.add_node("hall", true);
    office.wait_status(1, Duration::from_secs(20), |d| {
        node_names(d) == ["pi-hall", "pi-lab"]
    });
    let sub = Subscriber::start(&broker);
    office.start_bridge(&broker);

    // Discovery: a climate entity per zone, a sensor per thermometer, a
    // connectivity entity per node, all retained.
    let configs = |sub: &Subscriber| {
        sub.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.topic.starts_with("homeassistant/") && !m.payload.is_empty())
            .map(|m| m.topic.clone())
            .collect::<BTreeSet<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while configs(&sub).len() < 6 {
        assert!(
            Instant::now() < deadline,
            "discovery incomplete: {:?}\n{}",
            configs(&sub),
            office.bridge_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Liveness is published once every node had its chance to report.
    std::thread::sleep(Duration::from_millis(2500));
    let retained = broker.retained("#");
    let mut unique_ids = BTreeSet::new();
    let mut kinds = BTreeMap::<String, usize>::new();
    for (topic, payload) in retained
        .iter()
        .filter(|(t, _)| t.starts_with("homeassistant/"))
    {
        let config = json(payload);
        let kind = topic.split('/').nth(1).unwrap().to_string();
        *kinds.entry(kind.clone()).or_default() += 1;
        let id = config["unique_id"].as_str().expect("unique_id").to_string();
        assert!(unique_ids.insert(id.clone()), "unique_id {id} twice");
        assert!(topic.ends_with(&format!("/{id}/config")) || kind == "binary_sensor");
        assert!(
            config["device"]["identifiers"][0].is_string() && config["device"]["name"].is_string(),
            "{topic}: device"
        );
        match kind.as_str() {
            "climate" => {
                for key in [
                    "temperature_command_topic",
                    "temperature_state_topic",
                    "current_temperature_topic",
                    "mode_state_topic",
                    "action_topic",
                ] {
                    assert!(config[key].is_string(), "{topic}: {key}");
                }
                assert_eq!(config["modes"], serde_json::json!(["heat", "off"]));
                assert_eq!(
                    (
                        config["min_temp"].as_f64(),
                        config["max_temp"].as_f64(),
                        config["temp_step"].as_f64()
                    ),
                    (Some(5.0), Some(30.0), Some(0.5)),
                    "{topic}: the configured target range"
                );
            }
            "sensor" => {
                assert_eq!(config["device_class"], "temperature", "{topic}");
                assert_eq!(config["unit_of_measurement"], "°C", "{topic}");
                assert_eq!(config["state_class"], "measurement", "{topic}");
                assert!(config["device"]["sw_version"].is_string(), "{topic}");
                assert!(config["device"]["connections"].is_array(), "{topic}");
            }
            "binary_sensor" => assert_eq!(config["device_class"], "connectivity"),
            other => panic!("unexpected component {other}"),
        }
        // Every topic the entity reads holds a retained value (the target
        // only once one is set).
        for state in state_topics(&config) {
            if state.ends_with("/target") || state.ends_with("/attributes") {
                continue;
            }
            assert!(
                retained.contains_key(&state),
                "{topic} reads {state}, which has no retained value"
            );
        }
    }
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("binary_sensor".to_string(), 2),
            ("climate".to_string(), 2),
            ("sensor".to_string(), 2)
        ])
    );
    assert_eq!(retained["officemesh/bridge/availability"], "online");
    assert_eq!(retained["officemesh/zone/lab/mode"], "heat");

    // A reading that changes in the mesh reaches the broker within 1 s of
    // its measurement (the node's clock and this one are the same).
    let lab_sensor = retained
        .keys()
        .find(|t| t.starts_with("officemesh/node/") && t.ends_with("/sensor/temperature_0"))
        .cloned()
        .unwrap();
    let from = sub.len();
    let mut latencies = Vec::new();
    let mut cursor = from;
    while latencies.len() < 5 {
        let (i, m) = sub.wait(cursor, Duration::from_secs(10), "a new reading", |m| {
            m.topic.starts_with("officemesh/node/") && m.topic.contains("/sensor/") && !m.retained
        });
        cursor = i + 1;
        let measured = json(&m.payload)["measured_at_ms"].as_u64().unwrap();
        latencies.push(m.at_ms.saturating_sub(measured));
    }
    eprintln!("reading → MQTT latencies (ms): {latencies:?} (sensor topics such as {lab_sensor})");
    assert!(
        latencies.iter().all(|&l| l < 1000),
        "a reading took 1 s or more: {latencies:?}"
    );

    // A target from Home Assistant reaches every node, written by the bridge.
    let from = sub.len();
    broker.publish("officemesh/zone/lab/target/set", "22.5");
    sub.wait(
        from,
        Duration::from_secs(5),
        "the lab target state 22.5",
        |m| m.topic == "officemesh/zone/lab/target" && m.payload == "22.5",
    );
    for node in 0..2 {
        let doc = office.wait_status(node, Duration::from_secs(10), |d| {
            target(d, "lab") == Some(22.5)
        });
        let lab = doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["zone"] == "lab")
            .unwrap();
        let set_by = lab["siblings"][0]["set_by"].as_str().unwrap();
        assert!(
            set_by.contains("Home Assistant") && set_by.contains("officemesh-test-bridge"),
            "{set_by}"
        );
    }

    // Out of range for the bridge, not a number, and out of range for the
    // nodes: an error on the error topic, the target published again
    // unchanged, and nothing written.
    for bad in ["40", "warm", "27"] {
        let from = sub.len();
        broker.publish("officemesh/zone/lab/target/set", bad);
        let (i, error) = sub.wait(from, Duration::from_secs(5), "an error", |m| {
            m.topic == "officemesh/bridge/error"
        });
        let error = json(&error.payload);
        assert_eq!(error["zone"], "lab");
        assert_eq!(error["command"], bad);
        let reason = error["error"].as_str().unwrap_or_default();
        assert!(!reason.is_empty());
        if bad == "27" {
            assert!(reason.contains("node refused"), "{reason}");
        }
        sub.wait(i, Duration::from_secs(5), "the target state again", |m| {
            m.topic == "officemesh/zone/lab/target" && m.payload == "22.5"
        });
    }
    // Home Assistant was never shown a refused value.
    assert!(
        sub.find(0, |m| m.topic == "officemesh/zone/lab/target"
            && m.payload != "22.5")
            .is_none(),
        "a refused target was published"
    );
    for node in 0..2 {
        let doc = office.status(node).expect("status");
        assert_eq!(target(&doc, "lab"), Some(22.5));
        for bad in ["40", "27"] {
            assert!(
                !doc.to_string().contains(&format!("\"value\":{bad}")),
                "{doc:#}"
            );
        }
    }
}

#[test]
fn the_bridge_survives_a_broker_restart_and_leaves_a_last_will() {
    if !mosquitto_available() {
        return;
    }
    let mut office = Office::new();
    let mut broker = Broker::start(office.dir.path());
    office.add_node("office", false);
    office.add_node("annex", false);
    office.wait_status(0, Duration::from_secs(20), |d| {
        node_names(d) == ["pi-annex", "pi-office"]
    });
    office.start_bridge(&broker);
    let climate = "homeassistant/climate/officemesh_zone_office/config";
    let deadline = Instant::now() + Duration::from_secs(15);
    while !broker.retained("homeassistant/#").contains_key(climate) {
        assert!(
            Instant::now() < deadline,
            "no discovery: {}",
            office.bridge_log()
        );
    }

    // A node that leaves the mesh becomes unavailable.
    let annex_id = office.status(0).unwrap()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "pi-annex")
        .and_then(|n| n["id"].as_str().map(String::from))
        .unwrap();
    let annex_availability = format!("officemesh/node/{annex_id}/availability");
    let deadline = Instant::now() + Duration::from_secs(15);
    while broker
        .retained("officemesh/node/#")
        .get(&annex_availability)
        .map(String::as_str)
        != Some("online")
    {
        assert!(
            Instant::now() < deadline,
            "the annex node never online: {}",
            office.bridge_log()
        );
    }
    office.kill_node(1);
    let killed_ms = wall_ms();

    // The broker restarts and forgets every retained message; the bridge
    // reconnects and publishes discovery and states again.
    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let retained = broker.retained("#");
        if retained.contains_key(climate)
            && retained
                .get("officemesh/bridge/availability")
                .map(String::as_str)
                == Some("online")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing published again after the broker restart: {retained:?}\n{}",
            office.bridge_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Home Assistant's birth message: discovery is sent again.
    let sub = Subscriber::start(&broker);
    let from = sub.len();
    broker.publish("homeassistant/status", "online");
    sub.wait(
        from,
        Duration::from_secs(5),
        "discovery after the birth message",
        |m| m.topic == climate && !m.retained && !m.payload.is_empty(),
    );

    let (_, gone) = sub.wait(0, Duration::from_secs(20), "the annex node offline", |m| {
        m.topic == annex_availability && m.payload == "offline"
    });
    eprintln!(
        "annex node reported offline {} ms after it was killed",
        gone.at_ms.saturating_sub(killed_ms)
    );

    // Killed without a chance to say goodbye: the broker publishes the
    // bridge's last will, retained.
    let from = sub.len();
    kill(&mut office.bridge);
    sub.wait(
        from,
        Duration::from_secs(12),
        "the bridge's last will",
        |m| m.topic == "officemesh/bridge/availability" && m.payload == "offline",
    );
    assert_eq!(
        broker
            .retained("officemesh/bridge/#")
            .get("officemesh/bridge/availability")
            .map(String::as_str),
        Some("offline")
    );
}

#[test]
fn two_bridges_under_one_base_topic_are_told_of_each_other() {
    if !mosquitto_available() {
        return;
    }
    let mut office = Office::new();
    let broker = Broker::start(office.dir.path());
    office.add_node("office", false);
    let sub = Subscriber::start(&broker);
    office.start_bridge(&broker);
    sub.wait(0, Duration::from_secs(15), "the first bridge online", |m| {
        m.topic == "officemesh/bridge/availability" && m.payload == "online"
    });
    let second = office.spawn_bridge(
        &broker,
        "second",
        "host = \"127.0.0.1\"\nclient_id = \"officemesh-second-bridge\"\n",
    );
    office.others.push(second);
    // Each names the other on the error topic.
    for other in ["officemesh-test-bridge", "officemesh-second-bridge"] {
        sub.wait(0, Duration::from_secs(15), other, |m| {
            m.topic == "officemesh/bridge/error" && m.payload.contains(&format!("`{other}`"))
        });
    }
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_bridge_connects_over_tls_with_a_password() {
    if !mosquitto_available() {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: `openssl` is not installed (apt-get install openssl; .ci/run does)");
        return;
    }
    let mut office = Office::new();
    let dir = office.dir.path().to_path_buf();
    // A certificate authority of the test's own and a broker certificate
    // for `localhost` signed by it.
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=officemesh test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
    let ok = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(dir.join("passwd"))
        .args(["officemesh", "s3cret-word"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_passwd");
    std::fs::write(dir.join("mqtt.password"), "s3cret-word\n").unwrap();
    let broker = Broker::start_with(
        &dir,
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
             allow_anonymous false\npassword_file {0}/passwd\n",
            dir.display()
        ),
    );
    office.add_node("office", false);
    office.start_bridge_with(
        &broker,
        "host = \"localhost\"\ntls = true\nca_file = \"ca.pem\"\n\
         username = \"officemesh\"\npassword_file = \"mqtt.password\"\n",
    );
    let read = |topic: &str| {
        let out = Command::new("mosquitto_sub")
            .args(["-h", "localhost", "-p", &broker.port.to_string()])
            .arg("--cafile")
            .arg(dir.join("ca.pem"))
            .args(["-u", "officemesh", "-P", "s3cret-word"])
            .args(["-t", topic, "-C", "1", "-W", "2"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while read("officemesh/bridge/availability") != "online" {
        assert!(
            Instant::now() < deadline,
            "the bridge never came online over TLS: {}",
            office.bridge_log()
        );
    }
    let climate = read("homeassistant/climate/officemesh_zone_office/config");
    assert!(json(&climate)["unique_id"].is_string(), "{climate}");
}
