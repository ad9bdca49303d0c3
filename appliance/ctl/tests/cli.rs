//! `pigeonctl` as a command, with no directory: completions, and arguments refused before any
//! connection is made.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pigeonctl");

#[test]
fn completions_for_bash() {
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("_pigeonctl()"), "{script}");
    assert!(script.contains("import"), "{script}");
}

#[test]
fn bad_arguments_fail_before_the_directory_is_touched() {
    // The URI points nowhere: a connection attempt would fail with exit 1, not 2.
    for args in [
        vec!["user", "show", "*"],
        vec![
            "user",
            "add",
            "a@example.com",
            "--quota",
            "2Q",
            "--random-password",
        ],
        vec!["domain", "add", "exa)(mple.com"],
        vec!["alias", "add", "a@example.com", "not an address"],
        vec!["cluster", "rebalance", "--timeout", "soon"],
        vec!["cluster", "rebalance", "--dry-run", "--no-wait"],
    ] {
        let out = Command::new(BIN)
            .args(["--uri", "ldap://127.0.0.1:1"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
