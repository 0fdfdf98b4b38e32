//! `officemesh completions SHELL` and `officemesh man` come from the clap
//! definitions: they name every subcommand a user can type.

mod support;

use std::process::Command;

use support::BIN;

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completion_scripts_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for sub in ["node", "demo", "doctor", "status", "keygen", "man"] {
            assert!(script.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    let bash = run(&["completions", "bash"]);
    if Command::new("bash").arg("--version").output().is_ok() {
        let syntax = Command::new("bash")
            .args(["-n", "-c", &bash])
            .status()
            .unwrap();
        assert!(
            syntax.success(),
            "the bash completion script does not parse"
        );
    }
}

#[test]
fn the_man_page_documents_the_subcommands_and_their_options() {
    let page = run(&["man"]);
    assert!(page.contains(".TH officemesh 1"));
    for section in ["OFFICEMESH NODE", "OFFICEMESH DOCTOR", "OFFICEMESH SET"] {
        assert!(page.contains(section), "no section {section}");
    }
    assert!(page.contains("\\-\\-config") || page.contains("--config"));
    // The hidden test and benchmark flags stay out of it.
    assert!(!page.contains("announce\\-loopback") && !page.contains("announce-loopback"));
}
