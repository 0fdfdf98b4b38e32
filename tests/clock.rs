//! Clock trouble on real `officemesh node` processes: one node's wall
//! clock jumps hours backwards, then hours forwards, while it runs (moved
//! through `OFFICEMESH_CLOCK_OFFSET_FILE`, see `node::wall_clock`). Its
//! hybrid logical clock never goes back, its peers refuse its writes
//! stamped in their future (and count them) without their own clocks
//! being dragged along, and a target written meanwhile resolves the same
//! way on every node.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use officemesh::node::wall_clock::CLOCK_OFFSET_FILE_ENV;
use serde_json::Value;
use support::{Office, metric, node_names};

const HOURS_3_MS: i64 = 3 * 3600 * 1000;

/// Every node measures a simulated room each second and publishes every
/// sample: a stream of the node's own writes, each stamped by its clock.
const SENSOR: &str = "\n[[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\ninterval = 1\n\
                      deadband = { temperature = 0.0 }\n[simulated_room]\ninitial = 20.0\n";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// When node `name`'s reading was measured, in the replica `doc` shows.
fn reading_at(doc: &Value, name: &str) -> Option<u64> {
    let id = doc["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)?["id"]
        .as_str()?
        .to_string();
    doc["sensors"]
        .as_array()?
        .iter()
        .find(|s| s["node"] == id.as_str())?["measured_at_ms"]
        .as_u64()
}

/// The highest counter of node `name` the replica `doc` shows has seen.
fn counter_at(doc: &Value, name: &str) -> u64 {
    let id = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == name)
        .and_then(|n| n["id"].as_str())
        .unwrap_or_default();
    doc["own_version_vector"][id].as_u64().unwrap_or(0)
}

/// Every target's zone with its winning value and its sibling values.
fn targets(doc: &Value) -> Vec<(String, Option<f64>, Vec<f64>)> {
    let mut out: Vec<_> = doc["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let mut siblings: Vec<f64> = t["siblings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["value"].as_f64())
                .collect();
            siblings.sort_by(f64::total_cmp);
            (
                t["zone"].as_str().unwrap_or_default().to_string(),
                t["value"].as_f64(),
                siblings,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn set_offset(path: &Path, ms: i64) {
    std::fs::write(path, ms.to_string()).unwrap();
    // The node reads the file again within a second.
    thread::sleep(Duration::from_millis(1_500));
}

fn set(office: &Office, node: usize, zone: &str, value: &str) {
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            zone,
            value,
            "--wait",
            "stored",
            "--timeout",
            "20",
        ],
        node,
    );
    assert!(
        out.status.success(),
        "set {zone} {value} through n{node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_whose_clock_jumps_by_hours_keeps_order_and_its_future_is_refused() {
    let mut office = Office::new();
    office.extra_config = SENSOR.into();
    let offset = office.dir.path().join("n1.clock-offset");
    std::fs::write(&offset, "0").unwrap();
    let mut metrics: Vec<SocketAddr> = Vec::new();
    for i in 0..3 {
        office.add_stopped("cluster.key");
        metrics.push(office.serve_metrics(i));
    }
    office.nodes[1].env.push((
        CLOCK_OFFSET_FILE_ENV.into(),
        offset.to_string_lossy().into_owned(),
    ));
    for i in 0..3 {
        office.start(i);
    }
    office.wait_status(0, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1", "n2"] && reading_at(d, "n1").is_some()
    });

    // Backwards by three hours: n1's own stamps never go back, and its
    // readings still reach n0 (they are not from anyone's future).
    let before = office.wait_status(1, Duration::from_secs(10), |d| {
        reading_at(d, "n1").is_some()
    });
    let mut last = reading_at(&before, "n1").unwrap();
    set_offset(&offset, -HOURS_3_MS);
    let seen_at_n0 = counter_at(&office.status(0).unwrap(), "n1");
    let until = Instant::now() + Duration::from_secs(6);
    let mut samples = 0;
    while Instant::now() < until {
        let at = reading_at(&office.status(1).unwrap(), "n1").unwrap();
        assert!(
            at >= last,
            "n1 stamped a reading at {at} after one at {last}: its clock went back"
        );
        last = at;
        samples += 1;
    }
    assert!(
        last + 60_000 > now_ms(),
        "n1's stamps stay near the real time, not three hours back"
    );
    // Its stamps hold still (the hybrid clock counts on in its logical
    // part until the wall clock passes them again) and n0 still takes
    // its writes: its counter in n0's version vector goes on.
    office.wait_status(0, Duration::from_secs(10), |d| {
        counter_at(d, "n1") > seen_at_n0
    });
    println!("clock back 3 h: {samples} readings of n1 in order; n0 still takes them");

    // Forwards by three hours: n1 stamps its readings three hours ahead
    // (its own clock), n0 and n2 refuse them and say so, and their own
    // stamps stay in the present.
    let refused_before: Vec<u64> = metrics
        .iter()
        .map(|m| metric(*m, "officemesh_writes_rejected", "from_the_future"))
        .collect();
    set_offset(&offset, HOURS_3_MS);
    office.wait_status(1, Duration::from_secs(10), |d| {
        reading_at(d, "n1").is_some_and(|at| at > now_ms() + HOURS_3_MS as u64 - 60_000)
    });
    thread::sleep(Duration::from_secs(3));
    for i in [0, 2] {
        // Each `status` stays attached while n1 goes on writing from its
        // future (a reading a second): whatever its node receives in that
        // time, it is told only what that node admitted.
        let mut doc = Value::Null;
        for _ in 0..3 {
            doc = office.status(i).unwrap();
            let n1_at = reading_at(&doc, "n1").unwrap();
            assert!(
                n1_at < now_ms() + 60_000,
                "a status through n{i} shows n1's reading stamped {} s ahead",
                (n1_at - now_ms()) / 1000
            );
        }
        let own_at = reading_at(&doc, &format!("n{i}")).unwrap();
        assert!(
            own_at < now_ms() + 60_000,
            "n{i}'s own clock was dragged {} s ahead",
            (own_at - now_ms()) / 1000
        );
        let refused = metric(metrics[i], "officemesh_writes_rejected", "from_the_future");
        assert!(
            refused > refused_before[i],
            "n{i} counts the writes from the future ({} before, {refused} now)",
            refused_before[i]
        );
        println!(
            "clock forward 3 h: n{i} refused {} of n1's writes as from the future",
            refused - refused_before[i]
        );
    }

    // Targets written while n1's clock is three hours ahead resolve to
    // the same winner and siblings on every node.
    set(&office, 1, "lab", "21");
    set(&office, 0, "lab", "22.5");
    set(&office, 2, "hall", "19");
    let reference = office.wait_status(0, Duration::from_secs(20), |d| {
        let t = targets(d);
        t.iter().any(|(z, _, _)| z == "lab") && t.iter().any(|(z, _, _)| z == "hall")
    });
    let expected = targets(&reference);
    for i in 0..3 {
        office.wait_status(i, Duration::from_secs(20), |d| targets(d) == expected);
    }
    println!("targets everywhere: {expected:?}");
}
