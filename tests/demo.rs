//! The simulated office end to end: real nodes on loopback whose devices
//! tasks heat simulated rooms toward the targets the mesh carries.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use officemesh::crdt::Quantity;
use officemesh::demo::{DemoOffice, DemoOptions};
use officemesh::node::LocalWrite;
use officemesh::sensors::lock_room;
use serde_json::Value;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_officemesh");

/// The true temperature of every room now.
fn temperatures(office: &DemoOffice) -> Vec<f64> {
    let now = office.clock().now();
    office
        .nodes()
        .iter()
        .map(|n| {
            let mut room = lock_room(&n.room);
            room.advance_to(now);
            room.temperature()
        })
        .collect()
}

/// Polls `done` every 50 ms until it holds or `limit` passes.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// Three rooms at 300× (an hour in 12 s): each settles at its 21 °C
/// target; then a target set on another node moves one room through the
/// mesh and leaves the others where they were.
#[tokio::test(flavor = "current_thread")]
async fn a_target_changed_through_the_mesh_moves_the_room() {
    let options = DemoOptions {
        nodes: 3,
        speed: 300.0,
        ..DemoOptions::default()
    };
    let office = DemoOffice::start(&options)
        .await
        .expect("the office starts");
    let start = Instant::now();

    let settled = until(Duration::from_secs(30), || {
        temperatures(&office)
            .iter()
            .all(|t| (t - 21.0).abs() <= 0.5)
    })
    .await;
    let simulated_minutes = start.elapsed().as_secs_f64() * options.speed / 60.0;
    assert!(
        settled,
        "every room within ±0.5 °C of 21 °C: {:?}",
        temperatures(&office)
    );
    assert!(
        simulated_minutes < 60.0,
        "settled within the simulated hour, took {simulated_minutes:.0} min"
    );

    // The Meeting Room's node sets the Kitchen's target: only the mesh can
    // carry it to the Kitchen's node and its thermostat.
    let kitchen = &office.nodes()[0];
    let setter = &office.nodes()[1];
    assert_ne!(kitchen.zone, setter.zone);
    setter
        .node
        .local_writes()
        .send(LocalWrite::Target {
            zone: kitchen.zone.clone(),
            quantity: Quantity::Temperature,
            value: 24.0,
            set_by: "test".into(),
        })
        .await
        .unwrap();
    let arrived = until(Duration::from_secs(10), || {
        kitchen
            .node
            .target(&kitchen.zone, Quantity::Temperature)
            .is_some_and(|t| t.value == 24.0)
    })
    .await;
    assert!(arrived, "the new target reaches the kitchen's node");

    let mut others_lowest = f64::MAX;
    let mut others_highest = f64::MIN;
    let warmed = until(Duration::from_secs(30), || {
        let t = temperatures(&office);
        for other in &t[1..] {
            others_lowest = others_lowest.min(*other);
            others_highest = others_highest.max(*other);
        }
        t[0] >= 23.5
    })
    .await;
    let t = temperatures(&office);
    assert!(warmed, "the kitchen warms toward 24 °C: {t:?}");
    assert!(
        others_lowest > 20.0 && others_highest < 22.0,
        "the other rooms stay at 21 °C: {others_lowest:.2}..{others_highest:.2}"
    );
    let summary = office.summary(start.elapsed());
    assert!(summary.targets_agree, "{summary:#?}");
    assert_eq!(summary.zones[0].target, Some(24.0));
    office.shutdown().await;
}

#[test]
fn headless_json_summary_has_every_zone() {
    let out = Command::new(BIN)
        .args([
            "demo",
            "--headless",
            "--duration",
            "5",
            "--json",
            "--nodes",
            "3",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let zones = doc["zones"].as_array().expect("zones");
    assert_eq!(zones.len(), 3);
    let names: Vec<&str> = zones.iter().filter_map(|z| z["zone"].as_str()).collect();
    assert_eq!(names, ["Kitchen", "Meeting Room", "Open Space"]);
    for z in zones {
        assert_eq!(z["target"].as_f64(), Some(21.0), "{z}");
        let temperature = z["temperature"].as_f64().expect("temperature");
        assert!((0.0..40.0).contains(&temperature), "{z}");
        let duty = z["heating_duty"].as_f64().expect("heating_duty");
        assert!((0.0..=1.0).contains(&duty), "{z}");
        let nodes = z["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 1);
        assert!(nodes[0].as_str().is_some_and(|n| n.starts_with("pi-")));
    }
    assert_eq!(doc["speed"].as_f64(), Some(60.0));
    assert_eq!(doc["targets_agree"].as_bool(), Some(true));
}

/// Over three hours of an office day at 600×: every zone follows every switch of its
/// schedule from its own replica, the thermostat never short-cycles, and
/// the window opened in the kitchen is seen and handled.
#[test]
fn a_demo_day_follows_the_schedule_and_handles_an_open_window() {
    let out = Command::new(BIN)
        .args([
            "demo",
            "--headless",
            "--duration",
            "20",
            "--speed",
            "600",
            "--json",
            "--nodes",
            "2",
            "--timezone",
            "Europe/Lisbon",
            "--schedule",
            "--open-window",
            "Kitchen@2400",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["switches_missed"].as_u64(), Some(0), "{doc}");
    assert_eq!(doc["min_times_held"].as_bool(), Some(true), "{doc}");
    for z in doc["zones"].as_array().expect("zones") {
        let h = &z["heating"];
        // 06:50 plus 200 simulated minutes passes 07:00.
        assert!(h["switches_expected"].as_u64() >= Some(1), "{z}");
        assert!(h["meter"]["cycles"].as_u64() >= Some(1), "{z}");
        assert!(h["on_seconds"].as_f64() > Some(0.0), "{z}");
    }
    let kitchen = &doc["zones"][0]["heating"];
    assert_eq!(kitchen["windows_opened"].as_u64(), Some(1), "{kitchen}");
    assert_eq!(
        doc["zones"][1]["heating"]["windows_opened"].as_u64(),
        Some(0)
    );
}

/// `officemesh node --config` runs the devices its config lists: the
/// simulated thermometer's readings and the heater show in `status`, and
/// the probe that is not there is reported as failed with the fix.
#[test]
fn a_node_runs_the_devices_of_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let key = dir.path().join("cluster.key");
    assert!(
        Command::new(BIN)
            .args(["keygen", "--out"])
            .arg(&key)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nname = \"pi-lab\"\nzone = \"lab\"\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [cluster]\nkey_file = \"cluster.key\"\n\
             [[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\ninterval = 1\n\
             [[sensor]]\nkind = \"ds18b20\"\nname = \"radiator\"\npath = \"{}\"\n\
             [heating]\nrelay = \"simulated\"\n\
             [simulated_room]\n",
            dir.path().join("no-such-probe/w1_slave").display()
        ),
    )
    .unwrap();
    let mut node = Command::new(BIN)
        .args(["node", "--config"])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = Value::Null;
    let mut seen = false;
    while std::time::Instant::now() < deadline && !seen {
        std::thread::sleep(Duration::from_millis(300));
        let out = Command::new(BIN)
            .args(["status", "--json", "--timeout", "3", "--connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(&config)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
            continue;
        };
        let has = |list: &str, field: &str, value: &str| {
            doc[list]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e[field].as_str() == Some(value)))
        };
        let failed = doc["nodes"].as_array().is_some_and(|nodes| {
            nodes.iter().any(|n| {
                n["failed_sensors"].as_array().is_some_and(|f| {
                    f.iter().any(|s| {
                        s["sensor"] == "radiator"
                            && s["message"]
                                .as_str()
                                .is_some_and(|m| m.contains("w1_slave"))
                    })
                })
            })
        });
        seen = has("sensors", "sensor", "temperature#0")
            && has("actuators", "actuator", "Heater#0")
            && failed;
        last = doc;
    }
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        seen,
        "readings, heater and the failed probe in status: {last:#}"
    );
}
