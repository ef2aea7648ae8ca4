//! Argument groups shared by several commands, flattened into each. A flag
//! declared by more than one command with the same meaning lives here.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use enclave::MirrorMode;
use experiments::workspace::DataOptions;

/// Mirror modes on the command line (their names are `MirrorMode::name`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorArg {
    /// One Romulus write transaction per mirror-out (the paper's).
    Romulus,
    /// Two slots in the pool and a persistent selector.
    Ab,
    /// A sealed checkpoint file written with write + fsync + rename (the paper's baseline).
    Ssd,
}

impl From<MirrorArg> for MirrorMode {
    fn from(m: MirrorArg) -> Self {
        match m {
            MirrorArg::Romulus => MirrorMode::Romulus,
            MirrorArg::Ab => MirrorMode::Ab,
            MirrorArg::Ssd => MirrorMode::Ssd,
        }
    }
}

/// `--mirror` of a training run (romulus unless given).
#[derive(Args, Debug, Clone)]
pub struct MirrorModeArg {
    /// Mirror mode.
    #[arg(long, value_enum, default_value = "romulus")]
    pub mirror: MirrorArg,
}

impl MirrorModeArg {
    /// The library's mirror mode.
    pub fn mode(&self) -> MirrorMode {
        self.mirror.into()
    }
}

/// `--cfg` of the experiments (MNIST's model unless given).
#[derive(Args, Debug, Clone)]
pub struct ModelArg {
    /// The model.
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
}

/// `--seed` of a training run.
#[derive(Args, Debug, Clone)]
pub struct SeedArg {
    /// Seed of the initial weights, dropout and batch sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `--mnist`: the MNIST files.
#[derive(Args, Debug, Clone)]
pub struct MnistArg {
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
}

/// The data and pools of a training experiment.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    #[command(flatten)]
    pub mnist: MnistArg,
    /// Seal only the first N training samples (quick runs).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Where the pools go (default: a fresh directory in /dev/shm, else in the
    /// temporary directory); removed at the end.
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
}

impl From<DataArgs> for DataOptions {
    fn from(d: DataArgs) -> Self {
        DataOptions {
            mnist: d.mnist.mnist,
            limit: d.limit,
            pool_dir: d.pool_dir,
        }
    }
}

/// `--out` of an experiment that supervises training processes.
#[derive(Args, Debug, Clone)]
pub struct OutDirArg {
    /// Output directory (CSV, PNG, child logs).
    #[arg(long)]
    pub out: PathBuf,
}

/// `--csv`: a benchmark's results as CSV.
#[derive(Args, Debug, Clone)]
pub struct CsvArg {
    /// Write the results as CSV to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// `--platform`.
#[derive(Args, Debug, Clone)]
pub struct PlatformArg {
    /// Simulated platform directory.
    #[arg(long)]
    pub platform: Option<PathBuf>,
}

/// `--checkpoint`.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArg {
    /// The ssd mode's checkpoint file (default: `<pool>.ckpt`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

/// `--threads`.
#[derive(Args, Debug, Clone)]
pub struct ThreadsArg {
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `--force`.
#[derive(Args, Debug, Clone)]
pub struct ForceArg {
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `--quiet`.
#[derive(Args, Debug, Clone)]
pub struct QuietArg {
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}
