//! Forgetting a decommissioned node with `officemesh forget`, against real
//! node processes on loopback: it disappears from every replica, the node
//! itself stops, and a replica that was offline during the forget cannot
//! bring it back.

mod support;

use std::time::{Duration, Instant};

use support::tmux::Tmux;
use support::{BIN, Office, node_names};

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

    let out = office.observer_cmd(&["forget", "n2", "--yes", "--timeout", "20"], 0);
    assert!(
        out.status.success(),
        "forget failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    // Stored, then converged on the live nodes that remain (n3 is offline).
    assert!(
        said.contains("n2") && said.contains("converged: 2/2"),
        "{said}"
    );
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

#[test]
fn an_operator_forgets_a_node_from_the_tui_network_view() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (.ci/run installs it)");
        return;
    }
    let mut office = Office::new();
    office.extra_config = format!("[gossip]\nanti_entropy_period_ms = {AE_MS}\n");
    for _ in 0..3 {
        office.add("cluster.key");
    }
    office.wait_status(0, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1", "n2"]
    });
    let dir = office.dir.path();
    let command = format!(
        "env OFFICEMESH_OBSERVER_DIR={obs} {BIN} tui --connect {addr} --key {key} --log {log}; \
         exec sleep 600",
        obs = dir.join("tui-observer").display(),
        addr = office.nodes[0].addr,
        key = dir.join("cluster.key").display(),
        log = dir.join("tui.log").display(),
    );
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("an attached, synced office", Duration::from_secs(20), |s| {
        s.contains("connected") && s.contains("live 3/3")
    });
    // The Network view, sorted by name: n0, n1, n2.
    tmux.keys(&["2", "j", "j", "x"]);
    tmux.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Forget n2?")
    });
    tmux.keys(&["y"]);
    tmux.keys(&["6"]);
    tmux.wait_for("the forget stored", Duration::from_secs(10), |s| {
        s.contains("n2 forgotten")
    });
    for i in [0, 1] {
        office.wait_status(i, Duration::from_secs(10), |d| {
            node_names(d) == ["n0", "n1"]
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !office.log(2).contains("forgot this node") {
        assert!(
            Instant::now() < deadline,
            "n2 never logged that it was forgotten"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
