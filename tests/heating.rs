//! Heating writes through real `officemesh node` processes: a schedule, a
//! preset and a boost written on one node are admitted, converge, and show
//! in `status` on another; an out-of-bounds schedule is refused with the
//! token or the bound named.
//!
//! `status` reads an observer's replica, which a node fills through its
//! anti-entropy answer; that answer must carry the schedule, preset and
//! override maps for this test to pass.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Office, node_names};

fn heating<'a>(doc: &'a Value, zone: &str) -> Option<&'a Value> {
    doc["heating"]
        .as_array()?
        .iter()
        .find(|z| z["zone"] == zone)
}

fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_schedule_preset_and_boost_reach_every_node() {
    let mut office = Office::new();
    for _ in 0..2 {
        office.add("cluster.key");
    }
    for i in 0..2 {
        office.wait_status(i, Duration::from_secs(30), |d| {
            node_names(d) == ["n0", "n1"]
        });
    }
    let program = "daily 00:00 comfort";
    let out = office.observer_cmd(&["schedule", "set", "lab", program, "--timeout", "20"], 0);
    assert!(ok(&out).contains("converged: 2/2"));
    let out = office.observer_cmd(
        &["preset", "set", "lab", "comfort", "21.5", "--timeout", "20"],
        0,
    );
    ok(&out);
    office.wait_status(1, Duration::from_secs(10), |d| {
        heating(d, "lab").is_some_and(|z| {
            z["level"] == "schedule" && z["effective_celsius"].as_f64() == Some(21.5)
        })
    });
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            "lab",
            "23",
            "--for",
            "2h",
            "--timeout",
            "20",
        ],
        1,
    );
    assert!(ok(&out).contains("overridden to 23 °C for 2h"));
    office.wait_status(0, Duration::from_secs(10), |d| {
        heating(d, "lab").is_some_and(|z| {
            z["level"] == "override" && z["effective_celsius"].as_f64() == Some(23.0)
        })
    });
    let out = office.observer_cmd(&["set", "resume", "lab", "--timeout", "20"], 1);
    ok(&out);
    office.wait_status(0, Duration::from_secs(10), |d| {
        heating(d, "lab").is_some_and(|z| z["level"] == "schedule")
    });
    let out = office.observer_cmd(&["schedule", "show", "lab"], 1);
    let shown = ok(&out);
    assert!(
        shown.contains("daily 00:00 comfort") || shown.contains("mon-sun 00:00 comfort"),
        "{shown}"
    );
    assert!(shown.contains("comfort 21.5"), "{shown}");
    // Refused before anything is sent: a bound, then the syntax.
    let out = office.observer_cmd(&["schedule", "set", "lab", "daily 07:00 45"], 0);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside"),
        "{out:?}"
    );
    let out = office.observer_cmd(&["schedule", "set", "lab", "dayly 07:00 eco"], 0);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"dayly\""),
        "{out:?}"
    );
}
