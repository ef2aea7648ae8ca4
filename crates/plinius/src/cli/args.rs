//! Argument groups shared by several commands, flattened into each.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use enclave::MirrorMode;

/// Mirror modes on the command line.
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

/// `--force` alone.
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
