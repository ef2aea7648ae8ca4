//! `plinius train`'s first start with keys that do not open the dataset:
//! nothing may be created, so the same command with the right keys works.

mod common;
use common::{Env, mnist_arg, seal_dataset_args};

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

#[test]
fn a_wrong_key_on_the_first_start_creates_no_pool() {
    let e = Env::new();
    let dir = e.dir.path();
    let mnist = mnist_arg();
    std::fs::write(dir.join("tiny.cfg"), CFG).unwrap();
    e.ok_here(&["owner", "keygen", "--out", "owner.key"]);
    e.ok_here(&["owner", "keygen", "--out", "other.key"]);
    // The first 64 samples sealed with the owner's key to `out`, then `extra`.
    let seal = |out: &str, extra: &[&str]| {
        let extra = [&["--limit", "64"], extra].concat();
        e.ok_here(&seal_dataset_args(&mnist, "owner.key", out, &extra))
    };
    seal("train.sealed", &[]);
    seal("test.sealed", &["--split", "test"]);
    let train = |key: &str, data: &str| {
        e.run_here(&[
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
        ])
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
