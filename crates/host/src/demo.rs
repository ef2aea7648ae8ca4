//! The built-in demo (`plinius demo`): the whole Plinius flow on one machine, offline, with the
//! simulated (INSECURE, development-only) attestation back-end:
//!
//! 1. the data owner makes a key file;
//! 2. the enclave produces attestation evidence for the owner's nonce;
//! 3. the owner verifies it and provisions the keys, sealed to the enclave;
//! 4. the owner seals MNIST (train split);
//! 5. `plinius train` (a child process of this binary) creates the pool,
//!    imports the sealed dataset and trains `cfg/mnist5.cfg`, mirroring the
//!    sealed model into the pool after every iteration;
//! 6. the demo SIGKILLs the training process half-way, then starts it again:
//!    it resumes from the last mirrored iteration with neither owner key nor
//!    bundle (the keys are sealed in the pool to this platform and enclave);
//! 7. the enclave evaluates the model on the MNIST test set;
//! 8. the model is exported sealed for its owner, who opens it into a Darknet
//!    `.weights` file.
//!
//! Each step is a method of [`Demo`]; the caller runs them in order and
//! shows what each did. The pool lives in /dev/shm when present (memory
//! standing in for PM), else in a temporary directory; everything is deleted
//! when the [`Demo`] is dropped unless a directory to keep was given.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use enclave::MirrorMode;
use seal::dataset::Split;

use crate::enclave_side::{Backend, EvidenceOptions, EvidenceWritten};
use crate::error::{Context, Result, bail};
use crate::evaluate::PoolEval;
use crate::job::{JobOptions, SealedExport};
use crate::owner::{
    KeyFingerprints, OpenModelOptions, OpenedModel, SealDatasetOptions, SealedSummary,
};
use crate::progress::{NoProgress, Progress};
use crate::provision::{ProvisionOptions, Provisioned};

/// What the demo needs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The model.
    pub cfg: PathBuf,
    /// Directory with the MNIST gzip IDX files.
    pub mnist: PathBuf,
    /// Training iterations (batches of 128 images); at least 2.
    pub iterations: u64,
    /// Kill the training process after this many iterations (`None`: half-way).
    pub kill_at: Option<u64>,
    /// Mirror mode.
    pub mirror: MirrorMode,
    /// Worker threads of the training process (`None`: all cores).
    pub threads: Option<usize>,
    /// Keep every file in this directory (pool included) instead of temporary ones.
    pub dir: Option<PathBuf>,
    /// The `plinius` executable the training runs as a child of (its `train`
    /// command).
    pub exe: PathBuf,
}

/// Where the demo's files go: a work directory and a pool directory.
struct Dirs {
    work: PathBuf,
    pool: PathBuf,
    _temps: Vec<tempfile::TempDir>,
}

fn dirs(keep: Option<&Path>) -> Result<Dirs> {
    if let Some(d) = keep {
        std::fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
        return Ok(Dirs {
            work: d.to_path_buf(),
            pool: d.to_path_buf(),
            _temps: Vec::new(),
        });
    }
    let work = tempfile::Builder::new()
        .prefix("plinius-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let shm = Path::new("/dev/shm");
    let pool = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("plinius-demo-")
            .tempdir_in(shm)
            .ok()
    } else {
        None
    };
    Ok(match pool {
        Some(p) => Dirs {
            work: work.path().to_path_buf(),
            pool: p.path().to_path_buf(),
            _temps: vec![work, p],
        },
        None => Dirs {
            work: work.path().to_path_buf(),
            pool: work.path().to_path_buf(),
            _temps: vec![work],
        },
    })
}

/// Rows (iterations) in the loss CSV so far.
fn csv_iterations(path: &Path) -> u64 {
    let Ok(f) = std::fs::File::open(path) else {
        return 0;
    };
    std::io::BufReader::new(f)
        .lines()
        .skip(1)
        .map_while(std::result::Result::ok)
        .filter(|l| l.split(',').count() == 3)
        .count() as u64
}

fn spawn_train(exe: &Path, args: &[String]) -> Result<Child> {
    Command::new(exe)
        .arg("train")
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {} train", exe.display()))
}

/// The demo's state: its options and directories, and the nonce of the
/// attestation once made.
pub struct Demo {
    o: DemoOptions,
    kill_at: u64,
    d: Dirs,
    nonce: String,
}

impl Demo {
    /// Checks the options and makes the demo's directories.
    pub fn new(o: DemoOptions) -> Result<Demo> {
        if !o.cfg.is_file() {
            bail!(
                "{}: no such model cfg (run the demo from the repository root, or pass --cfg)",
                o.cfg.display()
            );
        }
        if !o.mnist.join("train-images-idx3-ubyte.gz").is_file() {
            bail!(
                "{}: no MNIST files (train-images-idx3-ubyte.gz, ...); run the demo from the repository root, or pass --mnist",
                o.mnist.display()
            );
        }
        if o.iterations < 2 {
            bail!("--iterations must be at least 2 (the demo kills training half-way)");
        }
        let kill_at = o
            .kill_at
            .unwrap_or(o.iterations / 2)
            .clamp(1, o.iterations - 1);
        let d = dirs(o.dir.as_deref())?;
        Ok(Demo {
            o,
            kill_at,
            d,
            nonce: String::new(),
        })
    }

    /// The options.
    pub fn options(&self) -> &DemoOptions {
        &self.o
    }

    /// The directory of the demo's files.
    pub fn work_dir(&self) -> &Path {
        &self.d.work
    }

    /// The file `name` in the work directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.d.work.join(name)
    }

    /// The pool file.
    pub fn pool(&self) -> PathBuf {
        self.d.pool.join("mnist5.pool")
    }

    /// Whether the pool is in /dev/shm (memory standing in for PM).
    pub fn pool_in_memory(&self) -> bool {
        self.d.pool.starts_with("/dev/shm")
    }

    fn platform(&self) -> PathBuf {
        self.file("sim-platform")
    }

    /// Step 1, the owner: a key file (dataset key, model key).
    pub fn keygen(&self) -> Result<KeyFingerprints> {
        crate::owner::keygen(&self.file("owner.key"), false)
    }

    /// Step 2, the enclave: attestation evidence for a fresh nonce of the owner.
    pub fn evidence(&mut self, progress: &mut dyn Progress) -> Result<EvidenceWritten> {
        let mut nonce = [0u8; 32];
        seal::key::random_fill(&mut nonce)?;
        self.nonce = hex::encode(nonce);
        crate::enclave_side::evidence(
            &EvidenceOptions {
                nonce: self.nonce.clone(),
                out: self.file("enclave.evidence"),
                state: Some(self.file("enclave.state")),
                backend: Backend::Sim,
                platform: Some(self.platform()),
                tsm_root: PathBuf::from(hostio::tsm::DEFAULT_TSM_ROOT),
                force: false,
            },
            progress,
        )
    }

    /// Step 3, the owner: verify the evidence, seal the keys to the enclave.
    pub fn provision(&self) -> Result<Provisioned> {
        crate::provision::provision(&ProvisionOptions {
            evidence: self.file("enclave.evidence"),
            nonce: self.nonce.clone(),
            expect_measurement: crate::enclave_side::enclave_measurement().to_string(),
            key: self.file("owner.key"),
            out: self.file("keys.bundle"),
            allow_sim: true,
            platform: Some(self.platform()),
            ..ProvisionOptions::default()
        })
    }

    /// Step 4, the owner: seal the MNIST training set.
    pub fn seal(&self, progress: &mut dyn Progress) -> Result<SealedSummary> {
        crate::owner::seal_dataset(
            &SealDatasetOptions {
                mnist: self.o.mnist.clone(),
                key: self.file("owner.key"),
                out: self.file("train.sealed"),
                split: Split::Train,
                limit: None,
                force: false,
            },
            progress,
        )
    }

    /// The arguments of every `train` child.
    fn train_args(&self) -> Vec<String> {
        let mut common = vec![
            "--cfg".to_string(),
            self.o.cfg.display().to_string(),
            "--pool".into(),
            self.pool().display().to_string(),
            "--platform".into(),
            self.platform().display().to_string(),
            "--iterations".into(),
            self.o.iterations.to_string(),
            "--mirror".into(),
            self.o.mirror.to_string(),
            "--loss-csv".into(),
            self.file("loss.csv").display().to_string(),
        ];
        if let Some(t) = self.o.threads {
            common.extend(["--threads".into(), t.to_string()]);
        }
        common
    }

    /// Step 5, the host: `plinius train` as a child process (its output
    /// goes to this process's), SIGKILLed once its loss CSV shows the kill
    /// iteration. Returns the iterations done when killed (`None`: it
    /// finished first).
    pub fn train_and_kill(&self) -> Result<Option<u64>> {
        let mut first = self.train_args();
        first.extend([
            "--data".into(),
            self.file("train.sealed").display().to_string(),
            "--bundle".into(),
            self.file("keys.bundle").display().to_string(),
            "--state".into(),
            self.file("enclave.state").display().to_string(),
        ]);
        let csv = self.file("loss.csv");
        let mut child = spawn_train(&self.o.exe, &first)?;
        loop {
            if let Some(status) = child
                .try_wait()
                .context("cannot wait for the training process")?
            {
                if !status.success() {
                    bail!("the training process failed ({status})");
                }
                return Ok(None);
            }
            let done = csv_iterations(&csv);
            if done >= self.kill_at {
                child.kill().context("cannot kill the training process")?;
                let _ = child.wait();
                return Ok(Some(done));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Step 6, the host: `plinius train` again, with neither dataset nor
    /// keys (the pool holds them sealed), to the end.
    pub fn resume(&self) -> Result<()> {
        let status = spawn_train(&self.o.exe, &self.train_args())?
            .wait()
            .context("cannot wait for the training process")?;
        if !status.success() {
            bail!("the resumed training process failed ({status})");
        }
        Ok(())
    }

    fn job(&self) -> JobOptions {
        JobOptions {
            pool: self.pool(),
            checkpoint: None,
            platform: Some(self.platform()),
            threads: self.o.threads,
        }
    }

    /// Step 7, the enclave: mirror-in and evaluate on the MNIST test set.
    pub fn evaluate(&self) -> Result<PoolEval> {
        crate::evaluate::eval_pool(&self.job(), &self.o.mnist, None, &mut NoProgress)
    }

    /// Step 8: the host exports the model sealed for its owner (the sealed
    /// export), who opens it as Darknet `.weights` (the opened model).
    pub fn export(&self) -> Result<(SealedExport, OpenedModel)> {
        let sealed = crate::export::export_model(
            &crate::export::ExportOptions {
                job: self.job(),
                out: self.file("model.sealed"),
                force: false,
                key: None,
            },
            &mut NoProgress,
        )?;
        let opened = crate::owner::open_model(&OpenModelOptions {
            model: self.file("model.sealed"),
            key: self.file("owner.key"),
            out: self.file("mnist5.weights"),
            force: false,
        })?;
        Ok((sealed, opened))
    }
}

/// The demo's header: the model, where its files and pool are, the
/// attestation back-end.
impl std::fmt::Display for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Plinius demo: secure, crash-resilient training of {} on MNIST",
            self.o.cfg.display()
        )?;
        writeln!(f, "  files: {}", self.work_dir().display())?;
        let memory = if self.pool_in_memory() {
            " (memory standing in for PM)"
        } else {
            ""
        };
        writeln!(f, "  pool:  {}{memory}", self.pool().display())?;
        write!(
            f,
            "  attestation: the SIMULATED platform (insecure, for development: no TEE needed)"
        )
    }
}

/// What a demo run did; shown as its summary.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The model.
    pub cfg: PathBuf,
    /// The iteration the evaluated model reached.
    pub iterations: u64,
    /// The iteration after which the training process was killed (`None`:
    /// it finished first).
    pub killed_after: Option<u64>,
    /// Test accuracy, 0..=1.
    pub accuracy: f32,
    /// Wall time of both training processes.
    pub train_seconds: f64,
    /// Wall time of the whole demo.
    pub total_seconds: f64,
    /// Where the files were kept, if they were.
    pub kept_in: Option<PathBuf>,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "\nSummary")?;
        writeln!(
            f,
            "  model:          {} ({} iterations of 128 images)",
            self.cfg.display(),
            self.iterations
        )?;
        match self.killed_after {
            Some(k) => writeln!(
                f,
                "  crash:          SIGKILL after iteration {k}; resumed from the last mirror, nothing lost"
            )?,
            None => writeln!(
                f,
                "  crash:          none (training ended before the planned kill)"
            )?,
        }
        writeln!(f, "  test accuracy:  {:.2}%", self.accuracy * 100.0)?;
        writeln!(
            f,
            "  training time:  {:.1} s (both processes); whole demo {:.1} s",
            self.train_seconds, self.total_seconds
        )?;
        write!(
            f,
            "  sealed outside the enclave: the dataset, the mirrored model (weights, optimizer, RNG states), the keys, the export"
        )?;
        if let Some(d) = &self.kept_in {
            write!(f, "\n  files kept in {}", d.display())?;
        }
        Ok(())
    }
}

/// A step of the demo; shown as its heading (`[n/8] what it does`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1: [`Demo::keygen`].
    Keygen,
    /// 2: [`Demo::evidence`].
    Evidence,
    /// 3: [`Demo::provision`].
    Provision,
    /// 4: [`Demo::seal`].
    Seal,
    /// 5: [`Demo::train_and_kill`], training this many iterations.
    Train(u64),
    /// 6: [`Demo::resume`] after the kill (the iteration it came after), or
    /// after a run that finished first (`None`).
    Resume(Option<u64>),
    /// 7: [`Demo::evaluate`].
    Evaluate,
    /// 8: [`Demo::export`].
    Export,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (n, what): (u8, String) = match *self {
            Step::Keygen => (
                1,
                "owner: generate the key file (dataset key, model key)".into(),
            ),
            Step::Evidence => (
                2,
                "enclave: attestation evidence for the owner's nonce".into(),
            ),
            Step::Provision => (
                3,
                "owner: verify the evidence, seal the keys to the enclave (HPKE)".into(),
            ),
            Step::Seal => (
                4,
                "owner: seal the MNIST training set, one AES-GCM record per image".into(),
            ),
            Step::Train(iterations) => (
                5,
                format!(
                    "host: plinius train (child process): create the pool, import the sealed data, train \
                     {iterations} iterations, mirroring the sealed model after each"
                ),
            ),
            Step::Resume(Some(done)) => (
                6,
                format!(
                    "CRASH: the demo SIGKILLed the training process after iteration {done}; starting it again \
                     (no --data, no --bundle: the pool holds them sealed)"
                ),
            ),
            Step::Resume(None) => (
                6,
                "the training process finished before the planned kill (nothing to resume)".into(),
            ),
            Step::Evaluate => (
                7,
                "enclave: mirror-in and evaluate on the 10,000 MNIST test images".into(),
            ),
            Step::Export => (
                8,
                "host: export the model sealed for its owner; owner: open it as Darknet .weights"
                    .into(),
            ),
        };
        write!(f, "\n[{n}/8] {what}")
    }
}
