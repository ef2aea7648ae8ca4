//! `plinius demo`: the whole Plinius flow on one machine, offline, with the
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
//! The pool lives in /dev/shm when present (memory standing in for PM), else
//! in a temporary directory; everything is deleted at the end unless `--dir`
//! is given.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::evidence::{Backend, EvidenceArgs, ProvisionArgs};
use crate::export::OpenModelArgs;
use crate::job::JobOptions;
use crate::owner::{KeygenArgs, SealDatasetArgs, SplitArg};

/// Arguments of `plinius demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The model.
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Training iterations (batches of 128 images).
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    /// Kill the training process after this many iterations (default: half-way).
    #[arg(long)]
    pub kill_at: Option<u64>,
    /// Mirror mode.
    #[arg(long, value_enum, default_value = "romulus")]
    pub mirror: crate::train::MirrorArg,
    /// Worker threads of the training process (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep every file in this directory (pool included) instead of temporary ones.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn step(n: usize, what: &str) {
    println!("\n[{n}/8] {what}");
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
        .map_while(|l| l.ok())
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

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<()> {
    let t0 = Instant::now();
    if !a.cfg.is_file() {
        bail!(
            "{}: no such model cfg (run the demo from the repository root, or pass --cfg)",
            a.cfg.display()
        );
    }
    if !a.mnist.join("train-images-idx3-ubyte.gz").is_file() {
        bail!(
            "{}: no MNIST files (train-images-idx3-ubyte.gz, ...); run the demo from the repository root, or pass --mnist",
            a.mnist.display()
        );
    }
    if a.iterations < 2 {
        bail!("--iterations must be at least 2 (the demo kills training half-way)");
    }
    let kill_at = a
        .kill_at
        .unwrap_or(a.iterations / 2)
        .clamp(1, a.iterations - 1);
    let d = dirs(a.dir.as_deref())?;
    let w = |n: &str| d.work.join(n);
    let platform = w("sim-platform");
    let pool = d.pool.join("mnist5.pool");
    println!(
        "Plinius demo: secure, crash-resilient training of {} on MNIST",
        a.cfg.display()
    );
    println!("  files: {}", d.work.display());
    println!(
        "  pool:  {}{}",
        pool.display(),
        if d.pool.starts_with("/dev/shm") {
            " (memory standing in for PM)"
        } else {
            ""
        }
    );
    println!("  attestation: the SIMULATED platform (insecure, for development: no TEE needed)");

    step(1, "owner: generate the key file (dataset key, model key)");
    crate::owner::keygen(&KeygenArgs {
        out: w("owner.key"),
        force: false,
    })?;

    step(2, "enclave: attestation evidence for the owner's nonce");
    let mut nonce = [0u8; 32];
    seal::key::random_fill(&mut nonce)?;
    let nonce = hex::encode(nonce);
    crate::evidence::evidence(&EvidenceArgs {
        nonce: nonce.clone(),
        out: w("enclave.evidence"),
        state: Some(w("enclave.state")),
        backend: Backend::Sim,
        platform: Some(platform.clone()),
        tsm_root: PathBuf::from(hostio::tsm::DEFAULT_TSM_ROOT),
        force: false,
    })?;

    step(
        3,
        "owner: verify the evidence, seal the keys to the enclave (HPKE)",
    );
    let measurement = crate::evidence::enclave_measurement()?.to_string();
    crate::evidence::provision(&ProvisionArgs {
        evidence: w("enclave.evidence"),
        nonce,
        expect_measurement: measurement,
        key: w("owner.key"),
        out: w("keys.bundle"),
        allow_sim: true,
        sim_platform_key: None,
        platform: Some(platform.clone()),
        snp_vcek: None,
        tdx_collateral: None,
        verify_at: None,
        force: false,
    })?;

    step(
        4,
        "owner: seal the MNIST training set, one AES-GCM record per image",
    );
    crate::owner::seal_dataset(&SealDatasetArgs {
        mnist: a.mnist.clone(),
        key: w("owner.key"),
        out: w("train.sealed"),
        split: SplitArg::Train,
        limit: None,
        force: false,
        quiet: false,
    })?;

    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    let csv = w("loss.csv");
    let mut common = vec![
        "--cfg".to_string(),
        a.cfg.display().to_string(),
        "--pool".into(),
        pool.display().to_string(),
        "--platform".into(),
        platform.display().to_string(),
        "--iterations".into(),
        a.iterations.to_string(),
        "--mirror".into(),
        format!("{:?}", a.mirror).to_lowercase(),
        "--loss-csv".into(),
        csv.display().to_string(),
    ];
    if let Some(t) = a.threads {
        common.extend(["--threads".into(), t.to_string()]);
    }

    step(
        5,
        &format!(
            "host: plinius train (child process): create the pool, import the sealed data, train {} iterations, \
             mirroring the sealed model after each",
            a.iterations
        ),
    );
    let mut first = common.clone();
    first.extend([
        "--data".into(),
        w("train.sealed").display().to_string(),
        "--bundle".into(),
        w("keys.bundle").display().to_string(),
        "--state".into(),
        w("enclave.state").display().to_string(),
    ]);
    let t_train = Instant::now();
    let mut child = spawn_train(&exe, &first)?;
    let killed_after = loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("the training process failed ({status})");
            }
            break None;
        }
        let done = csv_iterations(&csv);
        if done >= kill_at {
            child.kill().context("cannot kill the training process")?;
            let _ = child.wait();
            break Some(done);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    match killed_after {
        Some(done) => {
            eprintln!();
            step(
                6,
                &format!(
                    "CRASH: the demo SIGKILLed the training process after iteration {done}; starting it again \
                     (no --data, no --bundle: the pool holds them sealed)"
                ),
            );
        }
        None => step(
            6,
            "the training process finished before the planned kill (nothing to resume)",
        ),
    }
    let status = spawn_train(&exe, &common)?.wait()?;
    if !status.success() {
        bail!("the resumed training process failed ({status})");
    }
    let train_s = t_train.elapsed().as_secs_f64();

    step(
        7,
        "enclave: mirror-in and evaluate on the 10,000 MNIST test images",
    );
    let opts = JobOptions {
        pool: pool.clone(),
        checkpoint: None,
        platform: Some(platform.clone()),
        threads: a.threads,
    };
    let ev = crate::evalpool::eval_pool(&opts, &a.mnist, None)?;
    println!(
        "test accuracy: {:.2}% at iteration {}",
        ev.accuracy * 100.0,
        ev.iteration
    );

    step(
        8,
        "host: export the model sealed for its owner; owner: open it as Darknet .weights",
    );
    crate::export::run_export(crate::export::ExportArgs {
        pool: pool.clone(),
        out: w("model.sealed"),
        checkpoint: None,
        platform: Some(platform.clone()),
        force: false,
        key: None,
    })?;
    crate::export::open_model(&OpenModelArgs {
        model: w("model.sealed"),
        key: w("owner.key"),
        out: w("mnist5.weights"),
        force: false,
    })?;

    println!("\nSummary");
    println!(
        "  model:          {} ({} iterations of 128 images)",
        a.cfg.display(),
        ev.iteration
    );
    match killed_after {
        Some(k) => println!(
            "  crash:          SIGKILL after iteration {k}; resumed from the last mirror, nothing lost"
        ),
        None => println!("  crash:          none (training ended before the planned kill)"),
    }
    println!("  test accuracy:  {:.2}%", ev.accuracy * 100.0);
    println!(
        "  training time:  {train_s:.1} s (both processes); whole demo {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  sealed outside the enclave: the dataset, the mirrored model (weights, optimizer, RNG states), the keys, the export"
    );
    if a.dir.is_some() {
        println!("  files kept in {}", d.work.display());
    }
    Ok(())
}
