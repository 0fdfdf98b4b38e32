//! What nodes refuse from an observer, against real node processes on
//! loopback: a target outside the nodes' range sent by an observer whose
//! own config allows it, and a target register without a value. Neither
//! may become (or remove) a zone's target anywhere, then or after the
//! replicas' anti-entropy rounds.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use officemesh::crdt::{Quantity, TargetKey};
use officemesh::net::ClusterKey;
use officemesh::observer::{Observer, ObserverIdentity, Update};
use support::{BIN, Office, node_names, target};

/// Anti-entropy period of the test nodes.
const AE_MS: u64 = 500;
/// An observer's own anti-entropy period (`crdt::anti_entropy`'s default):
/// whatever its replica holds, it offers on this beat.
const OBSERVER_AE_MS: u64 = 5_000;

fn office(n: usize) -> Office {
    let mut office = Office::new();
    office.extra_config = format!(
        "[gossip]\nanti_entropy_period_ms = {AE_MS}\n\
         [targets.temperature]\nmin = 5.0\nmax = 30.0\nstep = 0.5\n"
    );
    for _ in 0..n {
        office.add("cluster.key");
    }
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    for i in 0..n {
        office.wait_status(i, Duration::from_secs(30), |d| node_names(d) == names);
    }
    office
}

fn set(office: &Office, node: usize, args: &[&str]) -> std::process::Output {
    let mut all = vec!["set", "target"];
    all.extend_from_slice(args);
    office.observer_cmd(&all, node)
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every node's `status --json` shows `value` as `zone`'s target.
fn target_everywhere(office: &Office, n: usize, zone: &str, value: f64) {
    for i in 0..n {
        let doc = office
            .status(i)
            .unwrap_or_else(|| panic!("no status through n{i}"));
        assert_eq!(target(&doc, zone), Some(value), "through n{i}: {doc:#}");
    }
}

/// An observer config that allows targets up to 40 °C.
fn wide_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("wide.toml");
    std::fs::write(
        &path,
        "[targets.temperature]\nmin = 5.0\nmax = 40.0\nstep = 0.5\n",
    )
    .unwrap();
    path
}

#[test]
fn a_target_outside_the_nodes_range_never_becomes_the_target() {
    let office = office(3);
    let out = set(&office, 1, &["zone-1", "21", "--wait", "converged"]);
    assert!(out.status.success(), "{}", text(&out));
    target_everywhere(&office, 3, "zone-1", 21.0);

    // `set` with a config allowing 40: it sends 35, the node refuses.
    let wide = wide_config(office.dir.path());
    let out = set(
        &office,
        0,
        &[
            "zone-1",
            "35",
            "--wait",
            "stored",
            "--config",
            wide.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "35 was accepted: {}", text(&out));
    assert!(
        text(&out).contains("rejected") && text(&out).contains("5..=30"),
        "{}",
        text(&out)
    );

    // The TUI with the same config, as an operator would use it.
    let tui = tui::Tmux::available().then(|| {
        let dir = office.dir.path();
        let command = format!(
            "env OFFICEMESH_OBSERVER_DIR={obs} {BIN} tui --connect {addr} --key {key} \
             --config {wide} --log {log}; exec sleep 600",
            obs = dir.join("tui-observer").display(),
            addr = office.nodes[0].addr,
            key = dir.join("cluster.key").display(),
            wide = wide.display(),
            log = dir.join("tui.log").display(),
        );
        let tmux = tui::Tmux::start(&command, 140, 30);
        tmux.wait_for("an attached, synced office", Duration::from_secs(20), |s| {
            s.contains("connected") && s.contains("live 3/3")
        });
        tmux.keys(&["1"]);
        tmux.wait_for("zone-1's target", Duration::from_secs(5), |s| {
            tui::target_cell(s, "zone-1").is_some_and(|c| c.starts_with("21.0"))
        });
        tmux.keys(&["j", "Enter"]);
        tmux.wait_for("the set-target dialog", Duration::from_secs(5), |s| {
            s.contains("Set zone-1")
        });
        tmux.keys(&["3", "5", "Enter"]);
        tmux.wait_for("the refusal", Duration::from_secs(10), |s| {
            s.lines()
                .any(|l| l.contains("zone-1") && l.contains("FAILED"))
        });
        tmux
    });
    if tui.is_none() {
        eprintln!("TUI part skipped: tmux is not installed (.ci/run installs it)");
    }

    // Two rounds of every replica's anti-entropy, the observers' included.
    let settle = Instant::now() + Duration::from_millis(2 * OBSERVER_AE_MS.max(AE_MS) + 500);
    while Instant::now() < settle {
        if let Some(tmux) = &tui {
            let screen = tmux.screen();
            let cell = tui::target_cell(&screen, "zone-1");
            assert!(
                cell.as_deref().is_some_and(|c| c.starts_with("21.0")),
                "the Target column shows {cell:?}:\n{screen}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    target_everywhere(&office, 3, "zone-1", 21.0);
    if let Some(tmux) = &tui {
        let screen = tmux.screen();
        let cell = tui::target_cell(&screen, "zone-1");
        assert!(
            cell.as_deref().is_some_and(|c| c.starts_with("21.0")),
            "the Target column shows {cell:?}:\n{screen}"
        );
    }
}

#[test]
fn a_target_register_without_a_value_is_refused_and_removes_nothing() {
    let office = office(2);
    let out = set(&office, 0, &["lab", "22", "--wait", "converged"]);
    assert!(out.status.success(), "{}", text(&out));
    target_everywhere(&office, 2, "lab", 22.0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reason = runtime.block_on(async {
        let identity =
            ObserverIdentity::load_or_generate(&office.dir.path().join("raw-observer")).unwrap();
        let key = ClusterKey::load(&office.dir.path().join("cluster.key")).unwrap();
        let mut observer = Observer::connect(identity, key, vec![office.nodes[1].addr])
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        assert!(observer.wait_until(deadline, |o| o.is_synced()).await);
        // What a faulty observer could send: the zone's register emptied
        // under the observer's own dot, covering the value it replaces.
        let lab = TargetKey::new("lab", Quantity::Temperature);
        let submitted = observer
            .write_with(|state, writer, wall_ms| state.remove_target(writer, wall_ms, lab))
            .unwrap();
        loop {
            match tokio::time::timeout_at(deadline, observer.next_update()).await {
                Err(_) => panic!("no answer to the write"),
                Ok(Update::Rejected { request, reason }) if request == submitted.request => {
                    break reason;
                }
                Ok(
                    update @ (Update::Stored { request, .. } | Update::NotStored { request, .. }),
                ) if request == submitted.request => {
                    panic!("the empty register was admitted: {update:?}")
                }
                Ok(_) => {}
            }
        }
    });
    assert!(reason.contains("without a value"), "{reason}");
    std::thread::sleep(Duration::from_millis(2 * AE_MS + 500));
    target_everywhere(&office, 2, "lab", 22.0);
}

/// What the Overview shows.
mod tui {
    pub use super::support::tmux::Tmux;

    /// The Overview's Target cell of `zone`'s row: the text under the
    /// "Target" header, up to the next column.
    pub fn target_cell(screen: &str, zone: &str) -> Option<String> {
        let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
        let find = |line: &[char], word: &str| {
            let word: Vec<char> = word.chars().collect();
            line.windows(word.len()).position(|w| w == word.as_slice())
        };
        let header = lines
            .iter()
            .find(|l| find(l, "Target").is_some() && find(l, "Humid").is_some())?;
        let (start, end) = (find(header, "Target")?, find(header, "Humid")?);
        let row = lines
            .iter()
            .find(|l| find(l, &format!(" {zone} ")).is_some())?;
        let cell: String = row.get(start..end.min(row.len()))?.iter().collect();
        Some(cell.trim().to_string())
    }
}
