//! The real `officemesh tui` binary in a real terminal (tmux), against real
//! nodes on loopback: what an operator sees, types and gets.
//!
//! Needs `tmux` (`.ci/run` installs it); without it the test says so and
//! passes, since there is no terminal to drive.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::tmux::Tmux;
use support::{BIN, Office, node_names, target};

/// `(name, every MAC of its interfaces)` per node, from `status --json`.
fn macs(doc: &Value) -> Vec<(String, Vec<String>)> {
    doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let macs = n["interfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["mac"].as_str().map(String::from))
                .collect();
            (n["name"].as_str().unwrap_or_default().to_string(), macs)
        })
        .collect()
}

/// A Network table row (not the status line, which names the attached node).
fn is_row(line: &str, name: &str) -> bool {
    line.contains(&format!(" {name} ")) && line.contains("zone-")
}

#[test]
fn an_operator_sees_the_nodes_sets_a_target_everywhere_and_quits() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (.ci/run installs it)");
        return;
    }
    let mut office = Office::new();
    office.announce_loopback = true;
    for _ in 0..3 {
        office.add("cluster.key");
    }
    let doc = office.wait_status(0, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1", "n2"] && macs(d).iter().all(|(_, m)| !m.is_empty())
    });
    let announced = macs(&doc);
    // Loopback nodes announce `lo` with an all-zero MAC, beside the host's
    // real interfaces.
    assert!(
        announced
            .iter()
            .all(|(_, m)| m.iter().any(|mac| mac == "00:00:00:00:00:00")),
        "{announced:?}"
    );

    let dir = office.dir.path();
    let command = format!(
        "env OFFICEMESH_OBSERVER_DIR={obs} {BIN} tui --connect {addr} --key {key} --log {log}; \
         echo TUI-EXIT=$?; stty -a; exec sleep 600",
        obs = dir.join("tui-observer").display(),
        addr = office.nodes[0].addr,
        key = dir.join("cluster.key").display(),
        log = dir.join("tui.log").display(),
    );
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("an attached, synced office", Duration::from_secs(20), |s| {
        s.contains("connected") && s.contains("live 3/3")
    });

    // The Network view: every node, with the MACs it announced.
    tmux.keys(&["2"]);
    let screen = tmux.wait_for("the Network view", Duration::from_secs(5), |s| {
        s.contains("Network")
            && ["n0", "n1", "n2"]
                .iter()
                .all(|n| s.lines().any(|l| is_row(l, n)))
    });
    for (name, node_macs) in &announced {
        let row = screen.lines().find(|l| is_row(l, name)).unwrap_or_default();
        assert!(
            row.contains(&node_macs[0]),
            "{name}'s row lacks its first MAC {}:\n{screen}",
            node_macs[0]
        );
        for mac in node_macs {
            assert!(screen.contains(mac.as_str()), "{mac} not shown:\n{screen}");
        }
    }

    // Set zone-1's target through the dialog, as an operator would.
    tmux.keys(&["1"]);
    tmux.wait_for("the Overview", Duration::from_secs(5), |s| {
        s.contains("zone-1")
    });
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("the set-target dialog", Duration::from_secs(5), |s| {
        s.contains("Set zone-1")
    });
    tmux.keys(&["2", "3", ".", "5", "Enter"]);
    tmux.wait_for("the write converged", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains("zone-1") && l.contains("23.5") && l.contains("converged"))
    });
    for i in 0..3 {
        office.wait_status(i, Duration::from_secs(10), |d| {
            target(d, "zone-1") == Some(23.5)
        });
    }

    // `q` quits and gives the terminal back: main screen, cooked mode, echo.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the TUI exited", Duration::from_secs(10), |s| {
        s.contains("TUI-EXIT=")
    });
    assert!(screen.contains("TUI-EXIT=0"), "{screen}");
    let stty = screen.split_whitespace().collect::<Vec<_>>();
    for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            stty.contains(&flag),
            "terminal left with -{flag}:\n{screen}"
        );
    }
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor left hidden");
    assert_eq!(
        tmux.format("#{mouse_any_flag}"),
        "0",
        "mouse capture left on"
    );
}

/// A zone's heating entry in `status --json`.
fn heating<'a>(doc: &'a Value, zone: &str) -> Option<&'a Value> {
    doc["heating"]
        .as_array()?
        .iter()
        .find(|z| z["zone"] == zone)
}

#[test]
fn an_operator_edits_a_schedule_a_refusal_rolls_back_and_a_save_reaches_every_node() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (.ci/run installs it)");
        return;
    }
    let mut office = Office::new();
    // The nodes take schedules up to 25 °C; the TUI, on the default
    // `[targets]`, would allow 30: a refusal only a node can give.
    office.extra_config = "[targets.temperature]\nmin = 5.0\nmax = 25.0\nstep = 0.5\n".into();
    for _ in 0..2 {
        office.add("cluster.key");
    }
    office.wait_status(1, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1"]
    });
    let dir = office.dir.path();
    let command = format!(
        "env OFFICEMESH_OBSERVER_DIR={obs} {BIN} tui --connect {addr} --key {key} --log {log}; \
         echo TUI-EXIT=$?; exec sleep 600",
        obs = dir.join("tui-observer").display(),
        addr = office.nodes[0].addr,
        key = dir.join("cluster.key").display(),
        log = dir.join("tui.log").display(),
    );
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("an attached, synced office", Duration::from_secs(20), |s| {
        s.contains("connected") && s.contains("live 2/2") && s.contains("zone-0")
    });

    // The Overview's first zone is zone-0: `e` opens its (empty) program.
    tmux.keys(&["e"]);
    tmux.wait_for("the schedule editor", Duration::from_secs(5), |s| {
        s.contains("Schedule of zone-0") && s.contains("No schedule")
    });

    // 27 °C passes the TUI's bounds, not the nodes': refused and rolled back.
    tmux.keys(&["a", "C-u"]);
    tmux.text("daily 07:30 27");
    tmux.wait_for("the typed row accepted", Duration::from_secs(5), |s| {
        s.contains("Enter puts it in the draft")
    });
    tmux.keys(&["Enter", "s"]);
    let screen = tmux.wait_for("the refusal", Duration::from_secs(20), |s| {
        s.contains("REFUSED")
    });
    assert!(
        screen.contains("no switches and no exceptions") && !screen.contains("DRAFT"),
        "not rolled back:\n{screen}"
    );
    let doc = office.status(1).expect("status through n1");
    assert!(
        heating(&doc, "zone-0").is_none_or(|z| z["schedule"].is_null()),
        "a refused program reached n1: {doc:#}"
    );

    // A period the nodes take: saved, and followed on the other node.
    tmux.keys(&["a", "C-u"]);
    tmux.text("mon-fri 07:30 19.5");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the draft", Duration::from_secs(5), |s| s.contains("DRAFT"));
    tmux.keys(&["s"]);
    tmux.wait_for("the save converged", Duration::from_secs(20), |s| {
        s.contains("saved: converged")
    });
    office.wait_status(1, Duration::from_secs(10), |d| {
        heating(d, "zone-0").is_some_and(|z| z["schedule"] == "mon-fri 07:30 19.5")
    });
    let out = office.observer_cmd(&["schedule", "show", "zone-0"], 1);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("mon-fri 07:30 19.5"), "{shown}");

    tmux.keys(&["Escape", "q"]);
    let screen = tmux.wait_for("the TUI exited", Duration::from_secs(10), |s| {
        s.contains("TUI-EXIT=")
    });
    assert!(screen.contains("TUI-EXIT=0"), "{screen}");
}
