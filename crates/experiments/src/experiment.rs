//! What the experiments share: a scratch workspace with an owner key, the
//! owner's sealed MNIST training set and a simulated platform (all in a
//! temporary directory), pools on emulated PM (/dev/shm when present), and the
//! `plinius train` command line for a child process.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

use host::owner::{SealDatasetArgs, SplitArg};
use host::supervisor::ChildSpec;
use host::train::MirrorArg;

/// Options every training experiment takes.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Seal only the first N training samples (quick runs).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Where the pools go (default: a fresh directory in /dev/shm, else in the
    /// temporary directory); removed at the end.
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
}

/// A scratch workspace: owner key, sealed dataset, simulated platform, pools.
pub struct Workspace {
    /// The owner key file.
    pub key: PathBuf,
    /// The sealed training set.
    pub data: PathBuf,
    /// The simulated platform directory.
    pub platform: PathBuf,
    /// Where pools and checkpoints go.
    pub pools: PathBuf,
    /// Where child logs go.
    pub logs: PathBuf,
    _temps: Vec<tempfile::TempDir>,
}

fn pool_dir(given: Option<&Path>) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    let base = match given {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("{}: cannot create", d.display()))?;
            d.to_path_buf()
        }
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    let t = tempfile::Builder::new()
        .prefix("plinius-exp-")
        .tempdir_in(&base)
        .with_context(|| format!("{}: cannot create a pool directory", base.display()))?;
    Ok((t.path().to_path_buf(), Some(t)))
}

impl Workspace {
    /// Creates the key, seals the training set (first `limit` samples) and
    /// makes the pool directory. `logs` is where child logs go (the output
    /// directory, so they survive for a look after a failure).
    pub fn prepare(d: &DataArgs, logs: &Path) -> Result<Workspace> {
        if !d.mnist.join("train-images-idx3-ubyte.gz").is_file() {
            bail!(
                "{}: no MNIST training set here (train-images-idx3-ubyte.gz); pass --mnist DIR",
                d.mnist.display()
            );
        }
        let work = tempfile::Builder::new()
            .prefix("plinius-exp-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let key = work.path().join("owner.key");
        let data = work.path().join("train.sealed");
        let platform = work.path().join("sim-platform");
        let bundle = seal::KeyBundle::generate()?;
        hostio::keyfile::write_key_file(&key, &bundle, false)?;
        host::owner::seal_dataset(&SealDatasetArgs {
            mnist: d.mnist.clone(),
            key: key.clone(),
            out: data.clone(),
            split: SplitArg::Train,
            limit: d.limit,
            force: false,
            quiet: true,
        })?;
        // Create the simulated platform now, not racing in the first children.
        hostio::platform::SimPlatform::open_or_create(&platform)?;
        let (pools, t) = pool_dir(d.pool_dir.as_deref())?;
        let mut temps = vec![work];
        temps.extend(t);
        Ok(Workspace {
            key,
            data,
            platform,
            pools,
            logs: logs.to_path_buf(),
            _temps: temps,
        })
    }

    /// The pool path of a job called `name`.
    pub fn pool(&self, name: &str) -> PathBuf {
        self.pools.join(format!("{name}.pool"))
    }

    /// Removes the pool (and ssd checkpoint) of job `name`, if any.
    pub fn remove_pool(&self, name: &str) -> Result<()> {
        let p = self.pool(name);
        let ck = host::inspect::default_checkpoint(&p);
        for f in [p, ck] {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("{}: cannot remove", f.display())),
            }
        }
        Ok(())
    }
}

/// The settings of one `plinius train` child.
#[derive(Clone, Debug)]
pub struct TrainChild {
    /// The model.
    pub cfg: PathBuf,
    /// Iterations in total.
    pub iterations: u64,
    /// Mirror mode.
    pub mirror: MirrorArg,
    /// Mirror every K iterations.
    pub mirror_every: u64,
    /// Seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: Option<usize>,
}

impl TrainChild {
    /// A child training `cfg` for `iterations`, mirroring after every one.
    pub fn mirroring_each_iteration(
        cfg: &Path,
        iterations: u64,
        mirror: MirrorArg,
        seed: u64,
        threads: Option<usize>,
    ) -> Self {
        TrainChild {
            cfg: cfg.to_path_buf(),
            iterations,
            mirror,
            mirror_every: 1,
            seed,
            threads,
        }
    }

    /// The child `plinius train` for job `name`, writing its loss CSV to
    /// `csv` and its output to `<logs>/<log>.log`.
    pub fn spec(&self, ws: &Workspace, name: &str, csv: &Path, log: &str) -> Result<ChildSpec> {
        let mode = match self.mirror {
            MirrorArg::Romulus => "romulus",
            MirrorArg::Ab => "ab",
            MirrorArg::Ssd => "ssd",
        };
        let mut args: Vec<String> = vec![
            "train".into(),
            "--cfg".into(),
            self.cfg.display().to_string(),
            "--data".into(),
            ws.data.display().to_string(),
            "--pool".into(),
            ws.pool(name).display().to_string(),
            "--iterations".into(),
            self.iterations.to_string(),
            "--mirror".into(),
            mode.into(),
            "--mirror-every".into(),
            self.mirror_every.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--key".into(),
            ws.key.display().to_string(),
            "--platform".into(),
            ws.platform.display().to_string(),
            "--loss-csv".into(),
            csv.display().to_string(),
            "--quiet".into(),
        ];
        if let Some(t) = self.threads {
            args.push("--threads".into());
            args.push(t.to_string());
        }
        ChildSpec::this_exe(args, ws.logs.join(format!("{log}.log")))
    }
}

/// Creates the output directory.
pub fn out_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))
}

/// The final training state digest of the job in `pool` (opened read-only
/// through the enclave), and its iteration.
pub fn state_digest(ws: &Workspace, pool: &Path) -> Result<([u8; 32], u64)> {
    let job = host::job::Job::resume_existing(&host::job::JobOptions {
        pool: pool.to_path_buf(),
        checkpoint: None,
        platform: Some(ws.platform.clone()),
        threads: Some(1),
    })?;
    Ok((job.enclave.state_digest(), job.enclave.iteration()))
}

/// Keys and data for in-process benchmarks: an owner key bundle, a simulated
/// platform, and the enclave keys provisioned from them (development flow,
/// in-process, as `--key` does).
pub struct InProcess {
    /// The owner's keys.
    pub bundle: seal::KeyBundle,
    /// The simulated platform.
    pub platform: hostio::platform::SimPlatform,
    /// A scratch directory (platform, sealed data).
    pub dir: tempfile::TempDir,
}

impl InProcess {
    /// Fresh owner keys and a fresh simulated platform in a temporary directory.
    pub fn new() -> Result<InProcess> {
        let dir = tempfile::Builder::new()
            .prefix("plinius-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let (platform, _) =
            hostio::platform::SimPlatform::open_or_create(&dir.path().join("platform"))?;
        Ok(InProcess {
            bundle: seal::KeyBundle::generate()?,
            platform,
            dir,
        })
    }

    /// The enclave's keys, provisioned in-process with simulated evidence.
    pub fn keys(&self) -> Result<enclave::Keys> {
        let provider = self.platform.provider(enclave::measurement());
        let policy = seal::evidence::Policy {
            allow_sim: true,
            sim_platform_key: Some(self.platform.public_key()),
            ..seal::evidence::Policy::default()
        };
        Ok(enclave::Keys::dev_provision(
            &provider,
            &policy,
            &self.bundle,
            &self.platform,
        )?)
    }

    /// Seals the first `n` MNIST training samples into a file in the scratch
    /// directory and returns its path.
    pub fn seal_mnist(&self, mnist: &Path, n: usize) -> Result<PathBuf> {
        let out = self.dir.path().join(format!("train-{n}.sealed"));
        crate::benchpipeline::seal_mnist(mnist, n, &self.bundle, &out)?;
        Ok(out)
    }
}

/// A fresh directory for pools: inside `given`, else in /dev/shm (emulated
/// PM) when present, else in the temporary directory. Removed when dropped.
pub fn pool_tempdir(given: Option<&Path>) -> Result<tempfile::TempDir> {
    Ok(pool_dir(given)?
        .1
        .expect("pool_dir always makes a directory"))
}

/// Creates the pool of `plan` at `path` and imports the sealed dataset `data`
/// into it, silently (the benchmarks' setup). If the import fails, the new
/// pool file is removed.
pub fn pool_with_dataset(path: &Path, plan: &enclave::PoolPlan, data: &Path) -> Result<ptm::Pool> {
    let mut pool = ptm::Pool::create(path, plan.pool_size(), &ptm::PoolOptions::default())?;
    let imported = host::import::import_file(
        &mut pool,
        plan.dataset_area,
        data,
        host::import::ImportOptions::default(),
        &indicatif::ProgressBar::hidden(),
    );
    if let Err(e) = imported {
        drop(pool);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(pool)
}

/// Median of `v` (NaN if empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
