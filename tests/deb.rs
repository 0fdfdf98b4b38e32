//! The Debian package builds and holds what an admin expects: the binary,
//! the unit, the config as a conffile, the man page and completions, and
//! the maintainer scripts that create the user and the first key.
//!
//! Slow (a release build) and needs cargo-deb, so ignored by default:
//!
//!     cargo install cargo-deb
//!     cargo test --test deb -- --ignored

use std::process::Command;

#[test]
#[ignore = "a release build and cargo-deb: cargo test --test deb -- --ignored"]
fn the_package_builds_with_the_unit_the_conffile_and_the_docs() {
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        eprintln!("skipped: cargo-deb not installed (cargo install cargo-deb)");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let built = Command::new(format!("{root}/packaging/build-deb.sh"))
        .current_dir(root)
        .status()
        .unwrap();
    assert!(built.success(), "packaging/build-deb.sh failed");
    let deb = std::fs::read_dir(format!("{root}/target/debian"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a .deb in target/debian");
    let contents = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let contents = String::from_utf8_lossy(&contents.stdout);
    for path in [
        "./usr/bin/officemesh",
        "./etc/officemesh/config.toml",
        "/officemesh.service",
        "./usr/share/man/man1/officemesh.1",
        "./usr/share/bash-completion/completions/officemesh",
    ] {
        assert!(
            contents.contains(path),
            "{path} missing from the package:\n{contents}"
        );
    }
    let control = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    let control = String::from_utf8_lossy(&control.stdout);
    for part in ["conffiles", "postinst", "postrm", "Depends:"] {
        assert!(
            control.contains(part),
            "{part} missing from the control area:\n{control}"
        );
    }
}
