//! `plinius train`'s first start with keys that do not open the dataset:
//! nothing may be created, so the same command with the right keys works.

use std::path::Path;
use std::process::{Command, Output};

/// A tiny model that trains in milliseconds.
const CFG: &str = "[net]
batch=16
height=28
width=28
channels=1
learning_rate=0.01
momentum=0.9
decay=0.0005
max_batches=10

[convolutional]
filters=4
size=3
stride=2
pad=1
activation=leaky

[connected]
output=10
activation=linear

[softmax]
";

fn plinius(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(args)
        .current_dir(dir)
        .env("PLINIUS_SIM_PLATFORM", dir.join("platform"))
        .output()
        .expect("plinius runs")
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let o = plinius(dir, args);
    assert!(
        o.status.success(),
        "plinius {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn a_wrong_key_on_the_first_start_creates_no_pool() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let mnist = mnist.to_str().unwrap();
    std::fs::write(dir.join("tiny.cfg"), CFG).unwrap();
    ok(dir, &["owner", "keygen", "--out", "owner.key"]);
    ok(dir, &["owner", "keygen", "--out", "other.key"]);
    ok(
        dir,
        &[
            "owner",
            "seal-dataset",
            "--mnist",
            mnist,
            "--key",
            "owner.key",
            "--out",
            "train.sealed",
            "--limit",
            "64",
        ],
    );
    ok(
        dir,
        &[
            "owner",
            "seal-dataset",
            "--mnist",
            mnist,
            "--key",
            "owner.key",
            "--out",
            "test.sealed",
            "--limit",
            "64",
            "--split",
            "test",
        ],
    );
    let train = |key: &str, data: &str| {
        plinius(
            dir,
            &[
                "train",
                "--cfg",
                "tiny.cfg",
                "--data",
                data,
                "--pool",
                "job.pool",
                "--key",
                key,
                "--iterations",
                "2",
                "--quiet",
            ],
        )
    };

    let o = train("other.key", "train.sealed");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("train.sealed"), "names the dataset: {err}");
    assert!(
        err.contains("wrong dataset key"),
        "says what is wrong: {err}"
    );
    assert!(
        !dir.join("job.pool").exists(),
        "no pool for keys that cannot train"
    );

    let o = train("owner.key", "test.sealed");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("test split"), "{err}");
    assert!(!err.contains("keys given"), "not a key problem: {err}");
    assert!(!dir.join("job.pool").exists(), "no pool for the test split");

    // The same command with the owner's key now starts the job.
    let o = train("owner.key", "train.sealed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("job.pool").exists());
}
