//! The store across restarts and crashes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use officemesh::store::{DOT_BLOCK, Durability, Store};
use proptest::prelude::*;

/// Set in the child process of `dot_counter_survives_sigkill`.
const CHILD_ENV: &str = "OFFICEMESH_STORE_CRASH_CHILD";

#[test]
fn state_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let mut store = Store::open_in(dir.path()).unwrap();
        store
            .put_state(b"target", b"21.0", Durability::Immediate)
            .unwrap();
        store
            .put_state(b"reading", b"19.5", Durability::Lazy)
            .unwrap();
        store.save_hlc(b"hlc-state").unwrap();
        store.flush().unwrap();
        let dots = store.reserve_dots(10).unwrap();
        dots.end - 1
        // Dropped here without any closing call.
    };
    let mut store = Store::open_in(dir.path()).unwrap();
    assert_eq!(store.get_state(b"target").unwrap(), Some(b"21.0".to_vec()));
    assert_eq!(store.get_state(b"reading").unwrap(), Some(b"19.5".to_vec()));
    assert_eq!(store.load_hlc().unwrap(), Some(b"hlc-state".to_vec()));
    let next = store.next_dot().unwrap();
    assert!(
        next > last,
        "dot {next} after restart, {last} was issued before"
    );
    assert_eq!(store.first_dot_of_this_run(), next);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// However dots are taken and however often the replica restarts,
    /// every dot is larger than every dot issued before it.
    #[test]
    fn dots_never_go_backwards_across_restarts(
        runs in proptest::collection::vec(proptest::collection::vec(1u64..3000, 0..6), 1..5)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut highest = 0u64;
        for run in runs {
            let mut store = Store::open_in(dir.path()).unwrap();
            for n in run {
                let dots = store.reserve_dots(n).unwrap();
                prop_assert_eq!(dots.end - dots.start, n);
                prop_assert!(dots.start > highest);
                highest = dots.end - 1;
            }
            prop_assert!(store.next_dot().unwrap() > highest);
            highest = highest.max(store.first_dot_of_this_run());
            drop(store);
        }
    }
}

/// The child half of the SIGKILL test: issue dots forever, printing each
/// once `next_dot` has returned it.
#[test]
fn store_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open_in(std::path::Path::new(&dir)).unwrap();
    loop {
        let dot = store.next_dot().unwrap();
        println!("dot {dot}");
    }
}

#[test]
fn dot_counter_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut highest = 0u64;
    for round in 0..2 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut seen = 0u64;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let Some(dot) = line.strip_prefix("dot ") else {
                continue;
            };
            let dot: u64 = dot.parse().unwrap();
            assert!(
                dot > highest,
                "round {round}: dot {dot} reissued (had {highest})"
            );
            highest = dot;
            seen += 1;
            // Kill it mid-block, well past the first reservation.
            if seen == DOT_BLOCK + DOT_BLOCK / 2 {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        assert_eq!(seen, DOT_BLOCK + DOT_BLOCK / 2, "child issued dots");
    }
    let mut store = Store::open_in(dir.path()).unwrap();
    assert!(store.next_dot().unwrap() > highest);
}
