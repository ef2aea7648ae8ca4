//! Errors a user makes with paths: an output into a directory that does not
//! exist, an input file that does not exist. The message names the
//! path and says what is wrong, once.

use std::process::Command;

#[test]
fn an_output_in_a_missing_directory_names_it() {
    let t = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(["owner", "keygen", "--out", "nodir/owner.key"])
        .current_dir(t.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nodir/owner.key: the directory nodir does not exist"),
        "{err}"
    );
    assert!(!t.path().join("nodir").exists());
}

#[test]
fn a_missing_pool_is_reported_once() {
    let t = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(["inspect", "--pool", "nothere.pool"])
        .current_dir(t.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(line.contains("nothere.pool"), "{line}");
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "the cause is repeated: {line}"
    );
    assert!(!t.path().join("nothere.pool").exists());
}
