//! CLI tests of `plinius cfg check`, `train-plain`, `eval`, `export-weights`
//! and `bench train`, running the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plinius(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run plinius")
}

/// `plinius cmd --cfg CFG`, then `extra`.
fn with_cfg(cmd: &[&str], cfg: &Path, extra: &[&str]) -> Output {
    plinius(&[cmd, &["--cfg", arg(cfg)], extra].concat())
}

/// `plinius eval --cfg CFG --weights WEIGHTS`, then `extra`.
fn eval(cfg: &Path, weights: &Path, extra: &[&str]) -> Output {
    with_cfg(
        &["eval"],
        cfg,
        &[&["--weights", arg(weights)], extra].concat(),
    )
}

/// `plinius export-weights --cfg CFG --out OUT`, then `extra`.
fn export_weights(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    with_cfg(
        &["export-weights"],
        cfg,
        &[&["--out", arg(out)], extra].concat(),
    )
}

/// `p` as a command-line argument.
fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cfg_check_prints_layers_and_parameter_bytes() {
    let o = plinius(&["cfg", "check", "cfg/mnist.cfg"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("parameters: 390122 (1560488 bytes"), "{out}");
    assert!(out.contains("7x7x128"), "{out}");
    assert!(out.contains("fingerprint: "), "{out}");
    for (file, mb) in [
        ("10", "10.93"),
        ("25", "25.10"),
        ("50", "51.07"),
        ("75", "74.69"),
        ("100", "100.66"),
    ] {
        let o = plinius(&["cfg", "check", &format!("cfg/sweep/sweep-{file}mb.cfg")]);
        assert!(o.status.success());
        assert!(text(&o).0.contains(&format!("{mb} MB")), "{}", text(&o).0);
    }
    for f in ["cfg/mnist5.cfg", "cfg/bench5.cfg"] {
        assert!(plinius(&["cfg", "check", f]).status.success(), "{f}");
    }
}

#[test]
fn cfg_check_errors_exit_2_naming_file_line_and_section() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "route.cfg",
            b"[net]\nwidth=28\nheight=28\nchannels=1\n\n[route]\nlayers=-1\n",
            ":6: in [route]: unsupported section",
        ),
        (
            "key.cfg",
            b"[net]\nwidth=28\nheight=28\nchannels=1\n[convolutional]\nfilters=2\nsise=3\n",
            ":7: in [convolutional]: unknown key `sise`",
        ),
        (
            "value.cfg",
            b"[net]\nwidth=28\nheight=28\nchannels=1\n[maxpool]\nsize=-2\n",
            ":6: in [maxpool]: invalid value `-2` for `size`",
        ),
        (
            "binary.cfg",
            &[0xff, 0xfe, 0x00, 0x5b, 0x80],
            "not a UTF-8 text file",
        ),
        ("empty.cfg", b"", "empty.cfg: the file is empty"),
        (
            "order.cfg",
            b"[net]\nheight=28\nchannels=1\n[connected]\noutput=10\nactivaton=linear\n[softmax]\n",
            ":6: in [connected]: unknown key `activaton`",
        ),
    ];
    for (name, body, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let o = plinius(&["cfg", "check", p.to_str().unwrap()]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = plinius(&["cfg", "check", "no/such/file.cfg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no/such/file.cfg"));
}

const TINY: &str = "[net]\nbatch=32\nwidth=28\nheight=28\nchannels=1\nlearning_rate=0.05\nmomentum=0.9\ndecay=0.0005\n\
[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n\
[connected]\noutput=10\nactivation=linear\n[softmax]\n";

/// A scratch directory holding `tiny.cfg` ([`TINY`]), and the cfg's path.
fn tiny_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tiny.cfg");
    std::fs::write(&cfg, TINY).unwrap();
    (dir, cfg)
}

fn accuracy(out: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("test accuracy:"))
        .unwrap_or_else(|| panic!("{out}"));
    line["test accuracy:".len()..]
        .trim()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn tiny_train_plain_eval_and_weights() {
    let (dir, cfg) = tiny_dir();
    let (w, csv) = (dir.path().join("tiny.weights"), dir.path().join("loss.csv"));
    let o = with_cfg(
        &["train-plain"],
        &cfg,
        &[
            "--mnist",
            "data/mnist",
            "--iterations",
            "60",
            "--threads",
            "1",
            "--seed",
            "3",
            "--save-weights",
            arg(&w),
            "--loss-csv",
            arg(&csv),
            "--quiet",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let acc = accuracy(&out);
    assert!(
        acc > 80.0,
        "60 iterations of a tiny model should exceed 80%: {out}"
    );
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 61);
    assert!(rows.starts_with("iteration,loss,learning_rate,seconds\n1,"));

    // eval --weights reproduces the accuracy printed by train-plain.
    let o = eval(&cfg, &w, &["--mnist", "data/mnist"]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(accuracy(&text(&o).0), acc);

    // A weights file of another model is refused with a clear error.
    let other = dir.path().join("other.cfg");
    std::fs::write(&other, TINY.replace("filters=4", "filters=5")).unwrap();
    let o = eval(&other, &w, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("tiny.weights"), "{}", text(&o).1);

    // export-weights + --init-weights: the same seed gives the same start.
    let init = dir.path().join("init.weights");
    let o = export_weights(&cfg, &init, &["--seed", "3"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let params = 4 * 9 + 4 * 3 + 10 * 4 * 14 * 14 + 10; // conv (+BN scales, rolling) and connected
    assert_eq!(
        std::fs::metadata(&init).unwrap().len() as usize,
        20 + 4 * (params + 4)
    );
    let o = with_cfg(
        &["train-plain"],
        &cfg,
        &[
            "--iterations",
            "60",
            "--threads",
            "2",
            "--seed",
            "3",
            "--init-weights",
            arg(&init),
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        accuracy(&text(&o).0),
        acc,
        "same initial weights, seed and data: same result for any thread count"
    );
}

#[test]
fn bench_train_writes_csv() {
    let (dir, cfg) = tiny_dir();
    let csv = dir.path().join("b.csv");
    let o = with_cfg(
        &["bench", "train"],
        &cfg,
        &[
            "--threads",
            "1",
            "--iterations",
            "2",
            "--warmup",
            "1",
            "--csv",
            arg(&csv),
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).0.contains("GFLOP/s"));
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 2);
    assert!(rows.lines().nth(1).unwrap().starts_with("tiny.cfg,1,32,"));
}

#[test]
fn eval_reads_only_the_test_split() {
    let (dir, cfg) = tiny_dir();
    let w = dir.path().join("tiny.weights");
    let o = export_weights(&cfg, &w, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    // A directory holding only the t10k-* files is enough for eval.
    let test_only = dir.path().join("mnist-test");
    std::fs::create_dir(&test_only).unwrap();
    let eval = |mnist: &Path| eval(&cfg, &w, &["--mnist", arg(mnist), "--threads", "1"]);
    // Without them, the error names the missing test file, not a training file.
    let o = eval(&test_only);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("t10k-images-idx3-ubyte") && !err.contains("train-"),
        "{err}"
    );
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(root().join("data/mnist").join(f), test_only.join(f)).unwrap();
    }
    let o = eval(&test_only);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let acc = accuracy(&out);
    assert!((0.0..=100.0).contains(&acc), "{out}");
}

#[test]
fn train_plain_reads_the_test_split_only_to_evaluate() {
    let (dir, cfg) = tiny_dir();
    let train_only = dir.path().join("mnist-train");
    std::fs::create_dir(&train_only).unwrap();
    for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(root().join("data/mnist").join(f), train_only.join(f)).unwrap();
    }
    let train = |extra: &[&str]| {
        let args = [
            "--mnist",
            arg(&train_only),
            "--iterations",
            "2",
            "--threads",
            "1",
            "--quiet",
        ];
        with_cfg(&["train-plain"], &cfg, &[&args, extra].concat())
    };
    // --no-eval: the training files are all it needs.
    let o = train(&["--no-eval"]);
    assert!(o.status.success(), "{}", text(&o).1);
    // Evaluating: the missing test file is named before any training (the
    // loss CSV, written from the first iteration on, is never created).
    let csv = dir.path().join("loss.csv");
    let o = train(&["--loss-csv", arg(&csv)]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("t10k-images-idx3-ubyte"), "{err}");
    assert!(!csv.exists(), "trained before failing");
}
