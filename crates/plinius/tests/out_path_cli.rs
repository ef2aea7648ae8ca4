//! Errors a user makes with paths: an output into a directory that does not
//! exist, an input file that does not exist. The message names the
//! path and says what is wrong, once.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::Env;

/// Runs `plinius args` to the end in `dir`, with the process's own
/// environment.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn an_output_in_a_missing_directory_names_it() {
    let t = tempfile::tempdir().unwrap();
    let o = run_in(t.path(), &["owner", "keygen", "--out", "nodir/owner.key"]);
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
    let o = run_in(t.path(), &["inspect", "--pool", "nothere.pool"]);
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

/// `train` of the repository's small model on a sealed MNIST subset, with
/// the pool `pool` and `extra` arguments, run in the scratch directory.
fn train_in(e: &Env, pool: &str, extra: &[&str]) -> Output {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cfg/mnist5.cfg");
    let args = [
        "train",
        "--cfg",
        cfg.to_str().unwrap(),
        "--data",
        "train.sealed",
        "--key",
        "owner.key",
        "--pool",
        pool,
        "--iterations",
        "1",
        "--threads",
        "1",
        "--quiet",
    ];
    e.run_here(&[&args, extra].concat())
}

/// The `error:` line of the stderr of `o`, a clean failure (exit code 2, no
/// panic).
fn error_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn train_outputs_in_a_missing_directory_name_the_users_path() {
    let e = Env::new();
    e.keygen_and_seal(64);
    // The pool.
    let line = error_line(&train_in(&e, "nodir/p.pool", &[]));
    assert!(
        line.contains("nodir/p.pool: cannot create the pool: the directory nodir does not exist"),
        "{line}"
    );
    assert!(!line.contains(".tmp"), "{line}");
    // The loss CSV.
    let line = error_line(&train_in(&e, "p.pool", &["--loss-csv", "nodir/loss.csv"]));
    assert!(
        line.contains(
            "nodir/loss.csv: cannot create the loss CSV: the directory nodir does not exist"
        ),
        "{line}"
    );
    assert!(!line.contains(".tmp"), "{line}");
    // The ssd checkpoint.
    let line = error_line(&train_in(
        &e,
        "s.pool",
        &["--mirror", "ssd", "--checkpoint", "nodir/s.ckpt"],
    ));
    assert!(
        line.contains(
            "nodir/s.ckpt: cannot create the checkpoint: the directory nodir does not exist"
        ),
        "{line}"
    );
    assert!(!line.contains(".tmp"), "{line}");
    assert!(!e.path("nodir").exists());
}
