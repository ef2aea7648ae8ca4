//! Helpers shared by the CLI integration tests: a scratch directory in which
//! the real `plinius` binary runs, the MNIST data, and byte searches for the
//! confidentiality scans.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory for one test. Every command runs with the simulated
/// platform kept inside it: tests never touch the user's platform.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// An empty scratch directory.
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    /// `name` inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// `name` inside the scratch directory, as a command-line argument.
    pub fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    /// The `plinius` command with `args`, not yet run.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_plinius"));
        c.args(args)
            .env("PLINIUS_SIM_PLATFORM", self.p("platform"))
            .stdin(Stdio::null());
        c
    }
    /// Runs `plinius args` to the end.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd(args).output().unwrap()
    }
    /// Runs `plinius args` to the end with the scratch directory as the
    /// working directory, so that relative names stand for names in it.
    pub fn run_here<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut c = self.cmd(args);
        c.current_dir(self.dir.path());
        c.output().unwrap()
    }
    /// Runs a command that must succeed; returns stdout.
    pub fn ok<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        succeeded(args, self.run(args))
    }
    /// [`Env::ok`] with the scratch directory as the working directory.
    pub fn ok_here<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        succeeded(args, self.run_here(args))
    }
    /// Runs a command that must fail; returns stderr.
    pub fn err<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "plinius {args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }
    /// Runs a command that must fail cleanly: exit code 2, an error message,
    /// no panic. Returns stderr.
    pub fn fail<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "plinius {args:?} should have failed");
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{err}");
        err
    }
    /// `words`, then each flag of `files` followed by its file's name in the
    /// scratch directory.
    pub fn file_args(&self, words: &[&str], files: &[(&str, &str)]) -> Vec<String> {
        let mut a = strings(words);
        for (flag, name) in files {
            a.extend([flag.to_string(), self.p(name)]);
        }
        a
    }
    /// `owner keygen` to `name` in the scratch directory; returns stdout.
    pub fn keygen(&self, name: &str) -> String {
        self.ok(&["owner", "keygen", "--out", &self.p(name)])
    }
    /// A fresh nonce from `owner nonce`, without the line end.
    pub fn nonce(&self) -> String {
        self.ok(&["owner", "nonce"]).trim().to_string()
    }
    /// `owner keygen` to `owner.key`, then `owner seal-dataset` of the first
    /// `limit` MNIST training samples to `train.sealed`.
    pub fn keygen_and_seal(&self, limit: u64) {
        self.keygen("owner.key");
        self.ok(&seal_dataset_args(
            &mnist_arg(),
            &self.p("owner.key"),
            &self.p("train.sealed"),
            &["--limit", &limit.to_string(), "--quiet"],
        ));
    }
    /// `enclave evidence` arguments for `nonce`, written to `out` with the
    /// enclave's session state in `state` (names in the scratch directory).
    pub fn evidence_args(&self, nonce: &str, out: &str, state: &str) -> Vec<String> {
        strings(&[
            "enclave",
            "evidence",
            "--nonce",
            nonce,
            "--out",
            &self.p(out),
            "--state",
            &self.p(state),
        ])
    }
    /// Runs [`Env::evidence_args`], which must succeed; returns stdout.
    pub fn evidence(&self, nonce: &str, out: &str, state: &str) -> String {
        self.ok(&self.evidence_args(nonce, out, state))
    }
    /// `owner provision` arguments with `owner.key`, without `--allow-sim`:
    /// verify `evidence` against `nonce` and `measurement`, write the bundle
    /// to `out` (names in the scratch directory).
    pub fn provision_args(
        &self,
        evidence: &str,
        nonce: &str,
        measurement: &str,
        out: &str,
    ) -> Vec<String> {
        strings(&[
            "owner",
            "provision",
            "--evidence",
            &self.p(evidence),
            "--nonce",
            nonce,
            "--expect-measurement",
            measurement,
            "--key",
            &self.p("owner.key"),
            "--out",
            &self.p(out),
        ])
    }
    /// Runs [`Env::provision_args`] with `--allow-sim`, which must succeed;
    /// returns stdout.
    pub fn provision(&self, evidence: &str, nonce: &str, measurement: &str, out: &str) -> String {
        let mut a = self.provision_args(evidence, nonce, measurement, out);
        a.push("--allow-sim".to_string());
        self.ok(&a)
    }
}

/// Asserts that `plinius args` succeeded with `out`; returns its stdout.
fn succeeded<S: Debug>(args: &[S], out: Output) -> String {
    assert!(
        out.status.success(),
        "plinius {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `args` as owned strings.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

/// `owner seal-dataset` arguments: the MNIST directory `mnist` sealed with
/// the key file `key` to `out`, then `extra`.
pub fn seal_dataset_args(mnist: &str, key: &str, out: &str, extra: &[&str]) -> Vec<String> {
    let mut a = strings(&[
        "owner",
        "seal-dataset",
        "--mnist",
        mnist,
        "--key",
        key,
        "--out",
        out,
    ]);
    a.extend(strings(extra));
    a
}

/// Model cfg text: the `[net]` section of a batch-32 MNIST model (28x28x1
/// input, momentum 0.9, decay 0.0005) with the further `name=value` lines
/// `$key`, then a blank line.
#[allow(unused_macros)]
macro_rules! mnist_net_cfg {
    ($($key:literal),*) => {
        concat!(
            "[net]\nbatch=32\nsubdivisions=1\nheight=28\nwidth=28\nchannels=1\n",
            "momentum=0.9\ndecay=0.0005\n",
            $($key, "\n",)*
            "\n"
        )
    };
}
#[allow(unused_imports)]
pub(crate) use mnist_net_cfg;

/// Model cfg text: a `[convolutional]` section of `$filters` 3x3 filters,
/// stride 1, padded, leaky, with the further `name=value` lines `$key` before
/// `filters`; then a 2x2 `[maxpool]` of stride 2 and a blank line.
#[allow(unused_macros)]
macro_rules! conv_pool_cfg {
    ($filters:literal $(, $key:literal)*) => {
        concat!(
            "[convolutional]\n",
            $($key, "\n",)*
            "filters=",
            $filters,
            "\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n[maxpool]\nsize=2\nstride=2\n\n"
        )
    };
}
#[allow(unused_imports)]
pub(crate) use conv_pool_cfg;

/// The MNIST directory of the repository.
pub fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

/// [`mnist_dir`] as a command-line argument.
pub fn mnist_arg() -> String {
    mnist_dir().to_str().unwrap().to_string()
}

/// The value after `name` on the first line of `stdout` that starts with it.
pub fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .trim()
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
