//! The scratch workspace of the experiments that train in child processes
//! (crash test, spot): an owner key, the owner's sealed MNIST training set and
//! a simulated platform (all in a temporary directory), pools on emulated PM
//! (/dev/shm when present), and the `plinius train` command line of a child.

use std::path::{Path, PathBuf};

use enclave::MirrorMode;
use host::owner::SealDatasetOptions;
use host::supervisor::{ChildSpec, RunRecord};

use crate::error::{ExperimentError, Result};
use crate::pools::pool_tempdir;

/// The data and pools every child-process experiment takes.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Directory with the MNIST gzip IDX files.
    pub mnist: PathBuf,
    /// Seal only the first N training samples (quick runs).
    pub limit: Option<u64>,
    /// Where the pools go (default: a fresh directory in /dev/shm, else in the
    /// temporary directory); removed at the end.
    pub pool_dir: Option<PathBuf>,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            mnist: PathBuf::from("data/mnist"),
            limit: None,
            pool_dir: None,
        }
    }
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

impl Workspace {
    /// Creates the key, seals the training set (first `limit` samples) and
    /// makes the pool directory. `logs` is where child logs go (the output
    /// directory, so they survive for a look after a failure).
    pub fn prepare(d: &DataOptions, logs: &Path) -> Result<Workspace> {
        if !d.mnist.join("train-images-idx3-ubyte.gz").is_file() {
            return Err(ExperimentError::Options(format!(
                "{}: no MNIST training set here (train-images-idx3-ubyte.gz); pass --mnist DIR",
                d.mnist.display()
            )));
        }
        let work = tempfile::Builder::new()
            .prefix("plinius-exp-")
            .tempdir()
            .map_err(ExperimentError::io(
                std::env::temp_dir(),
                "cannot create a temporary directory",
            ))?;
        let key = work.path().join("owner.key");
        let data = work.path().join("train.sealed");
        let platform = work.path().join("sim-platform");
        let bundle = seal::KeyBundle::generate()?;
        hostio::keyfile::write_key_file(&key, &bundle, false)?;
        host::owner::seal_dataset(
            &SealDatasetOptions {
                mnist: d.mnist.clone(),
                key: key.clone(),
                out: data.clone(),
                split: seal::dataset::Split::Train,
                limit: d.limit,
                force: false,
            },
            &mut host::NoProgress,
        )?;
        // Create the simulated platform now, not racing in the first children.
        hostio::platform::SimPlatform::open_or_create(&platform)?;
        let pools = pool_tempdir(d.pool_dir.as_deref())?;
        Ok(Workspace {
            key,
            data,
            platform,
            pools: pools.path().to_path_buf(),
            logs: logs.to_path_buf(),
            _temps: vec![work, pools],
        })
    }

    /// The pool path of a job called `name`.
    pub fn pool(&self, name: &str) -> PathBuf {
        self.pools.join(format!("{name}.pool"))
    }

    /// Removes the pool (and ssd checkpoint) of job `name`, if any.
    pub fn remove_pool(&self, name: &str) -> Result<()> {
        let p = self.pool(name);
        let ck = host::ckpt::default_checkpoint(&p);
        for f in [p, ck] {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ExperimentError::io(f, "cannot remove")(e)),
            }
        }
        Ok(())
    }

    /// The final training state digest of the job in `pool` (opened read-only
    /// through the enclave), and its iteration.
    pub fn state_digest(&self, pool: &Path) -> Result<FinalState> {
        let job = host::job::Job::resume_existing(&host::job::JobOptions {
            pool: pool.to_path_buf(),
            checkpoint: None,
            platform: Some(self.platform.clone()),
            threads: Some(1),
        })?;
        Ok(FinalState {
            digest: job.enclave.state_digest(),
            iteration: job.enclave.iteration(),
        })
    }
}

/// The training state a job ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalState {
    /// Digest of weights, BN statistics, momentum, RNG states and data cursor.
    pub digest: [u8; 32],
    /// The iteration reached.
    pub iteration: u64,
}

impl FinalState {
    /// The first 8 bytes of the digest in hex, for tables.
    pub fn short(&self) -> String {
        self.digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
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
    pub mirror: MirrorMode,
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
        mirror: MirrorMode,
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
            self.mirror.name().into(),
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
        Ok(ChildSpec::this_exe(
            args,
            ws.logs.join(format!("{log}.log")),
        )?)
    }
}

/// A run's line in the progress: its iterations and how it ended.
pub fn describe_run(name: &str, r: &RunRecord, killed_word: &str) -> String {
    let what = if r.killed { killed_word } else { "finished" };
    match (r.resumed_from(), r.last()) {
        (Some(f), Some(l)) => format!(
            "  {name}run {}: iterations {}..{l}, {what} after {:.1} s",
            r.run,
            f + 1,
            r.wall.as_secs_f64()
        ),
        _ => format!(
            "  {name}run {}: no iteration completed, {what} after {:.1} s",
            r.run,
            r.wall.as_secs_f64()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_command_line_names_every_setting() {
        let ws = Workspace {
            key: "k".into(),
            data: "d".into(),
            platform: "p".into(),
            pools: "pools".into(),
            logs: "logs".into(),
            _temps: Vec::new(),
        };
        let c = TrainChild::mirroring_each_iteration(
            Path::new("m.cfg"),
            30,
            MirrorMode::Ab,
            3,
            Some(2),
        );
        let spec = c.spec(&ws, "job", Path::new("l.csv"), "job").unwrap();
        let line = spec.display();
        for want in [
            "--mirror ab",
            "--mirror-every 1",
            "--pool pools/job.pool",
            "--seed 3",
            "--threads 2",
            "--loss-csv l.csv",
            "--iterations 30",
        ] {
            assert!(line.contains(want), "{want} missing from {line}");
        }
        let s = FinalState {
            digest: [0xab; 32],
            iteration: 1,
        };
        assert_eq!(s.short(), "abababababababab");
    }
}
