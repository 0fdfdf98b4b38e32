//! `officemesh doctor` on setups with something wrong: each problem is a
//! failed check with what to do, and the exit code is non-zero.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{BIN, free_port, keygen};

fn doctor(config: &Path) -> (bool, Value) {
    let out = Command::new(BIN)
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.success(), report)
}

/// The check whose name starts with `prefix`.
fn check<'a>(report: &'a Value, prefix: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no check named {prefix}…: {report:#}"))
}

#[test]
fn a_world_readable_key_and_a_missing_i2c_bus_fail() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    keygen(&key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    // No machine running the tests has a 200th I2C bus.
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "[node]\nzone = \"kitchen\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\
         [cluster]\nkey_file = \"cluster.key\"\n\
         [[sensor]]\nkind = \"bme280\"\nname = \"desk\"\nbus = 200\n",
    )
    .unwrap();
    let (ok, report) = doctor(&config);
    assert!(!ok, "doctor passed a broken setup: {report:#}");
    assert_eq!(report["ok"], false);

    let key_check = check(&report, "cluster key");
    assert_eq!(key_check["status"], "fail", "{key_check:#}");
    assert!(key_check["detail"].as_str().unwrap().contains("0644"));
    assert!(key_check["fix"].as_str().unwrap().starts_with("chmod 600"));

    let sensor = check(&report, "sensor desk");
    assert_eq!(sensor["status"], "fail", "{sensor:#}");
    assert!(
        sensor["detail"].as_str().unwrap().contains("/dev/i2c-200"),
        "{sensor:#}"
    );
    assert!(sensor["fix"].as_str().is_some_and(|f| !f.is_empty()));

    // Where settings came from: the zone from the file, the name by default.
    let settings = report["settings"].as_array().unwrap();
    let from = |key: &str| {
        settings
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["from"].clone())
    };
    assert_eq!(from("node.zone"), Some(Value::from("file")));
    assert_eq!(from("node.name"), Some(Value::from("default")));
    // The data directory itself is fine and says so.
    assert_eq!(check(&report, "data directory")["status"], "pass");
}

#[test]
fn an_unreachable_seed_fails_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("cluster.key"));
    // A port nobody listens on: bound, then released.
    let seed = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nzone = \"kitchen\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\
             [cluster]\nkey_file = \"cluster.key\"\nseeds = [\"{seed}\"]\n"
        ),
    )
    .unwrap();
    let (ok, report) = doctor(&config);
    assert!(!ok);
    assert_eq!(check(&report, "cluster key")["status"], "pass");
    let seed_check = check(&report, &format!("seed {seed}"));
    assert_eq!(seed_check["status"], "fail", "{seed_check:#}");
    assert!(
        seed_check["detail"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{seed_check:#}"
    );
    assert!(
        seed_check["fix"]
            .as_str()
            .unwrap()
            .contains("start the node there")
    );
}

#[test]
fn a_seed_holding_our_key_passes_and_one_with_another_key_fails() {
    let mut office = support::Office::new();
    office.add("cluster.key");
    let good = office.nodes[0].addr;
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("cluster.key"));
    let config = other.path().join("node.toml");
    let write = |key: &Path| {
        std::fs::write(
            &config,
            format!(
                "[node]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\
                 [cluster]\nkey_file = \"{}\"\nseeds = [\"{good}\"]\n",
                key.display()
            ),
        )
        .unwrap();
    };
    // The node needs a moment to listen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    write(&office.dir.path().join("cluster.key"));
    loop {
        let (_, report) = doctor(&config);
        if check(&report, "seed")["status"] == "pass" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{report:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    write(&other.path().join("cluster.key"));
    let (ok, report) = doctor(&config);
    assert!(!ok);
    let seed = check(&report, "seed");
    assert_eq!(seed["status"], "fail", "{seed:#}");
    assert!(
        seed["fix"].as_str().unwrap().contains("same cluster key"),
        "{seed:#}"
    );
}
