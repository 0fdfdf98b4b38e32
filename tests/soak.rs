//! A short `officemesh soak`: eight real nodes for a minute, half of them
//! killed and restarted or frozen and resumed while three writers set
//! targets through random nodes. At the end every node agrees, every
//! acknowledged write is present or superseded everywhere, and the steady
//! nodes' memory is not climbing.
//!
//! The ten-minute, twenty-node run (figures in docs/benchmarks.md):
//!
//! ```text
//! officemesh soak --nodes 20 --minutes 10
//! ```

mod support;

use std::process::Command;

use serde_json::Value;

/// A leak of a kilobyte per write at the soak's two writes a second is
/// about 120 KiB/min; this catches anything grosser within one minute,
/// where one allocator step on one node can move a slope by hundreds.
const SLOPE_BOUND_KIB_PER_MIN: f64 = 1024.0;

#[test]
fn a_minute_of_churn_loses_no_acknowledged_write_and_memory_stays_flat() {
    let out = Command::new(support::BIN)
        .args([
            "soak",
            "--nodes",
            "8",
            "--minutes",
            "1",
            "--warm-up-secs",
            "20",
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let figures: serde_json::Map<String, Value> = report
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "rss")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["converged"], true);
    assert_eq!(report["lost_writes"], Value::Array(vec![]));
    assert!(report["churn"]["kills"].as_u64().unwrap() >= 1);
    assert!(report["writes"]["acknowledged"].as_u64().unwrap() >= 20);
    let slope = report["rss_slope_kib_per_min_median"].as_f64().unwrap();
    assert!(
        slope.abs() < SLOPE_BOUND_KIB_PER_MIN,
        "steady nodes' memory grows {slope:+.0} KiB/min (median)"
    );
}
