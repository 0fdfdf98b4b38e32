//! `officemesh keygen`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use officemesh::net::ClusterKey;

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.key");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_officemesh"))
            .arg("keygen")
            .arg("--out")
            .arg(&path)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = ClusterKey::load(&path).unwrap();

    let second = run();
    assert!(
        !second.status.success(),
        "an existing key is never overwritten"
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));
    assert_eq!(ClusterKey::load(&path).unwrap(), key);
}
