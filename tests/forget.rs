//! Forgetting a decommissioned node with `officemesh forget`, against real
//! node processes on loopback: it disappears from every replica, the node
//! itself stops, and a replica that was offline during the forget cannot
//! bring it back.

mod support;

use std::time::{Duration, Instant};

use support::{Office, node_names};

/// Anti-entropy period of the test nodes.
const AE_MS: u64 = 500;

#[test]
fn a_forgotten_node_is_gone_everywhere_and_stays_gone_when_an_old_replica_returns() {
    let mut office = Office::new();
    office.extra_config = format!("[gossip]\nanti_entropy_period_ms = {AE_MS}\n");
    for _ in 0..4 {
        office.add("cluster.key");
    }
    let all = ["n0", "n1", "n2", "n3"];
    for i in 0..4 {
        office.wait_status(i, Duration::from_secs(30), |d| node_names(d) == all);
    }
    // n3 is offline during the forget, with n2 in its store.
    office.kill(3);

    // Asking without a terminal and without --yes forgets nothing.
    let out = office.observer_cmd(&["forget", "n2"], 0);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Through the node being forgotten: refused, it could not answer.
    let out = office.observer_cmd(&["forget", "n2", "--yes"], 2);
    assert!(!out.status.success());

    let out = office.observer_cmd(&["forget", "n2", "--yes", "--wait", "stored"], 0);
    assert!(
        out.status.success(),
        "forget failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("n2"));
    // n3, offline, is still known (unreachable); n2 is gone.
    for i in [0, 1] {
        office.wait_status(i, Duration::from_secs(10), |d| {
            node_names(d) == ["n0", "n1", "n3"]
        });
    }
    // n2 learnt it, said why, and stopped: it no longer serves observers
    // and never announces itself again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !office.log(2).contains("forgot this node") {
        assert!(
            Instant::now() < deadline,
            "n2 never logged that it was forgotten:\n{}",
            office.log(2)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(office.status(2).is_none(), "n2 still serves status");

    // n3 comes back with n2 live in its store.
    office.start(3);
    office.wait_status(3, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1", "n3"]
    });
    std::thread::sleep(Duration::from_millis(2 * AE_MS + 500));
    for i in [0, 1, 3] {
        let doc = office
            .status(i)
            .unwrap_or_else(|| panic!("no status through n{i}"));
        assert_eq!(node_names(&doc), ["n0", "n1", "n3"], "through n{i}");
    }
    assert!(office.status(2).is_none(), "n2 serves status again");
}
