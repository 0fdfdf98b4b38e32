//! A node's log read by anything but a person at a terminal (a pipe, a
//! file, journald) carries no ANSI escape sequences.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{BIN, free_port, keygen, write_config};

/// Runs a lone node for a moment with `env`, its stderr a pipe, and
/// returns what it logged.
fn log_through_a_pipe(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("cluster.key"));
    let config = dir.path().join("n0.toml");
    let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(&config, 0, addr, "cluster.key", &[]);
    let mut command = Command::new(BIN);
    command
        .args(["node", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    assert!(log.contains("node started"), "the node did not log:\n{log}");
    log
}

#[test]
fn a_log_written_to_a_pipe_has_no_escape_sequences() {
    let log = log_through_a_pipe(&[]);
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a piped log:\n{log:?}"
    );
}

#[test]
fn under_systemd_lines_are_plain_and_carry_no_timestamp_of_their_own() {
    let log = log_through_a_pipe(&[("JOURNAL_STREAM", "8:12345")]);
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes for the journal:\n{log:?}"
    );
    let started = log.lines().find(|l| l.contains("node started")).unwrap();
    assert!(
        started.trim_start().starts_with("INFO"),
        "journald stamps lines itself; this one has a timestamp: {started}"
    );
}

#[test]
fn rust_log_asking_for_debug_gets_debug_lines() {
    let log = log_through_a_pipe(&[]);
    assert!(
        log.lines().any(|l| l.contains("DEBUG")),
        "RUST_LOG=debug logged no debug line:\n{log}"
    );
}
