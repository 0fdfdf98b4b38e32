//! The store across restarts and crashes, through the calls the node makes:
//! `commit` (blobs and the dot bound in one durable write), `get_state`,
//! `first_dot_of_this_run`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use officemesh::store::Store;
use proptest::prelude::*;

/// Set in the child process of `dot_bound_survives_sigkill`.
const CHILD_ENV: &str = "OFFICEMESH_STORE_CRASH_CHILD";

#[test]
fn state_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open_in(dir.path()).unwrap();
        store
            .commit(&[(b"target", b"21.0"), (b"peers", b"[]")], Some(4097))
            .unwrap();
        // Dropped here without any closing call.
    }
    let store = Store::open_in(dir.path()).unwrap();
    assert_eq!(store.get_state(b"target").unwrap(), Some(b"21.0".to_vec()));
    assert_eq!(store.get_state(b"peers").unwrap(), Some(b"[]".to_vec()));
    assert_eq!(store.first_dot_of_this_run(), 4097);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// However bounds are committed and however often the replica
    /// restarts, a run's first dot is at or above every bound committed
    /// before it: no dot that may have been issued is issued again.
    #[test]
    fn the_first_dot_never_falls_below_a_committed_bound(
        runs in proptest::collection::vec(proptest::collection::vec(1u64..100_000, 0..6), 1..5)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut highest = 1u64;
        for run in runs {
            let mut store = Store::open_in(dir.path()).unwrap();
            prop_assert!(store.first_dot_of_this_run() >= highest);
            for bound in run {
                store.commit(&[], Some(bound)).unwrap();
                highest = highest.max(bound);
            }
            drop(store);
        }
        let store = Store::open_in(dir.path()).unwrap();
        prop_assert!(store.first_dot_of_this_run() >= highest);
    }
}

/// The child half of the SIGKILL test: commit ever higher bounds with a
/// blob, printing each once `commit` has returned.
#[test]
fn store_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open_in(std::path::Path::new(&dir)).unwrap();
    let mut bound = store.first_dot_of_this_run();
    loop {
        bound += 7;
        let value = bound.to_be_bytes();
        store.commit(&[(b"last", &value)], Some(bound)).unwrap();
        println!("bound {bound}");
    }
}

#[test]
fn dot_bound_survives_sigkill() {
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
            let Some(bound) = line.strip_prefix("bound ") else {
                continue;
            };
            let bound: u64 = bound.parse().unwrap();
            assert!(
                bound > highest,
                "round {round}: bound {bound} not above {highest}, committed before"
            );
            highest = bound;
            seen += 1;
            // Kill it mid-stream of commits.
            if seen == 50 {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        assert_eq!(seen, 50, "child committed bounds");
    }
    let store = Store::open_in(dir.path()).unwrap();
    assert!(store.first_dot_of_this_run() >= highest);
    let last = store.get_state(b"last").unwrap().expect("a committed blob");
    let last = u64::from_be_bytes(last.try_into().unwrap());
    assert!(
        last >= highest,
        "the blob committed with the bound is there"
    );
}
