//! `plinius bench sps|seal|train|mirror|decrypt`: the benchmarks that
//! reproduce the paper's figures (table, CSV, PNG).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use experiments::{decrypt, mirror, pipeline, seal_speed, sps, train_speed};
use ptm::FlushStrategy;

use super::args::{CsvArg, MirrorArg, MnistArg};

/// The benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// SPS: transactions of N random swaps in a persistent array (Fig. 6).
    Sps(SpsArgs),
    /// AES-256-GCM seal/open throughput on one core (4 KiB, 1 MiB, 64 MiB).
    Seal(SealArgs),
    /// Training speed of a model: ms/iteration, images/s, GFLOP/s.
    Train(TrainArgs),
    /// Save/restore of the sealed model: mirror on PM vs ssd checkpoint (Fig. 7, Table I).
    Mirror(MirrorArgs),
    /// Time per iteration on sealed vs plain batches against batch size (Fig. 8).
    Decrypt(DecryptArgs),
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Sps(a) => run_sps(a),
        BenchCommand::Seal(a) => run_seal(a),
        BenchCommand::Train(a) => run_train(a),
        BenchCommand::Mirror(a) => run_mirror(a),
        BenchCommand::Decrypt(a) => run_decrypt(a),
    }
}

/// Options of `plinius bench sps`.
#[derive(Args, Debug, Clone)]
pub struct SpsArgs {
    /// Swaps per transaction (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,64,128,256,512,1024,2048"
    )]
    pub swaps: Vec<u64>,
    /// Seconds of measurement per swaps-per-transaction value (and strategy).
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Flush strategies to measure (comma separated: clwb, clflushopt, clflush,
    /// msync, eadr, none). Default: the one chosen for the pool's file system.
    #[arg(long, value_delimiter = ',')]
    pub flush: Vec<FlushStrategy>,
    /// Pool file to create (must not exist; removed afterwards). Default: a
    /// fresh file in /dev/shm (emulated PM), else in the temporary directory.
    #[arg(long)]
    pub pool: Option<PathBuf>,
    /// Size of the persistent array in MiB.
    #[arg(long, default_value_t = 10.0)]
    pub array_mib: f64,
    #[command(flatten)]
    pub csv: CsvArg,
    /// Draw the results as a PNG line chart.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Seed of the random pair choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn run_sps(a: SpsArgs) -> Result<()> {
    let opts = sps::SpsOptions {
        swaps: a.swaps,
        seconds: a.seconds,
        flush: a.flush,
        pool: a.pool,
        array_mib: a.array_mib,
        seed: a.seed,
    };
    let report = sps::run(&opts, &mut |l| eprintln!("{l}"))?;
    print!("{report}");
    if let Some(c) = &a.csv.csv {
        sps::write_csv(c, &report.points)?;
        eprintln!("wrote {}", c.display());
    }
    if let Some(p) = &a.plot {
        sps::write_plot(p, &report.points, opts.array_mib)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Arguments of `bench seal`.
#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(flatten)]
    pub csv: CsvArg,
    /// Seconds of measurement per case and operation.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
}

fn run_seal(a: SealArgs) -> Result<()> {
    println!("{}", seal_speed::HEADLINE);
    let report = seal_speed::run(&seal_speed::SealOptions { seconds: a.seconds })?;
    print!("{report}");
    if let Some(path) = &a.csv.csv {
        report.write_csv(path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Arguments of `plinius bench train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// Thread counts to measure, comma-separated (default: 1 and all cores).
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Timed iterations per thread count.
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[command(flatten)]
    pub csv: CsvArg,
    /// Measure Plinius's protection instead: the plain step, sealed-batch
    /// loading and mirror-out per mode (romulus, ab, ssd), one run.
    #[arg(long)]
    pub pipeline: bool,
    /// With --pipeline: MNIST directory (images sealed for the benchmark).
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// With --pipeline: where the pools go (default /dev/shm when present).
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
    /// With --pipeline: where the ssd checkpoint goes (default the temporary directory).
    #[arg(long)]
    pub ckpt_dir: Option<PathBuf>,
}

fn run_train(a: TrainArgs) -> Result<()> {
    if a.pipeline {
        let report = pipeline::run(&pipeline::PipelineOptions {
            cfg: a.cfg,
            threads: a.threads.first().copied(),
            iterations: a.iterations,
            warmup: a.warmup,
            mnist: a.mnist,
            samples: 10_000,
            pool_dir: a.pool_dir,
            ckpt_dir: a.ckpt_dir,
        })?;
        print!("{report}");
        if let Some(path) = &a.csv.csv {
            report.write_csv(path)?;
        }
        return Ok(());
    }
    let opts = train_speed::TrainSpeedOptions {
        cfg: a.cfg,
        threads: a.threads,
        iterations: a.iterations,
        warmup: a.warmup,
    };
    let report = train_speed::run(&opts, &mut |line| eprintln!("{line}"))?;
    print!("{report}");
    if let Some(path) = &a.csv.csv {
        report.write_csv(path)?;
    }
    Ok(())
}

/// Arguments of `plinius bench mirror`.
#[derive(Args, Debug, Clone)]
pub struct MirrorArgs {
    /// The models (comma separated), smallest first.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cfg/sweep/sweep-10mb.cfg,cfg/sweep/sweep-25mb.cfg,cfg/sweep/sweep-50mb.cfg,cfg/sweep/sweep-75mb.cfg,cfg/sweep/sweep-100mb.cfg"
    )]
    pub cfgs: Vec<PathBuf>,
    /// Mirror modes (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "romulus,ab,ssd"
    )]
    pub modes: Vec<MirrorArg>,
    /// Timed saves and restores per model and mode (medians are reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where pools go (default: /dev/shm, else the temporary directory).
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
    /// Where the ssd checkpoint goes (default: the output directory; it should
    /// be on the disk being measured, not on tmpfs).
    #[arg(long)]
    pub ckpt_dir: Option<PathBuf>,
    /// Leave the checkpoint in the page cache before ssd restores.
    #[arg(long)]
    pub warm_cache: bool,
    /// Directory with the MNIST gzip IDX files (a few samples fill the pool's dataset area).
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Output directory (mirror.csv, mirror_save.png, mirror_restore.png).
    #[arg(long)]
    pub out: PathBuf,
}

fn run_mirror(a: MirrorArgs) -> Result<()> {
    let opts = mirror::MirrorOptions {
        cfgs: a.cfgs,
        modes: a.modes.into_iter().map(Into::into).collect(),
        runs: a.runs,
        pool_dir: a.pool_dir,
        ckpt_dir: a.ckpt_dir,
        warm_cache: a.warm_cache,
        mnist: a.mnist,
        out: a.out,
    };
    let report = mirror::run(&opts, &mut |l| println!("{l}"))?;
    print!("{report}");
    Ok(())
}

/// Arguments of `plinius bench decrypt`.
#[derive(Args, Debug, Clone)]
pub struct DecryptArgs {
    /// The model (its batch size is replaced by each of --batches).
    #[arg(long, default_value = "cfg/mnist5.cfg")]
    pub cfg: PathBuf,
    /// Batch sizes (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "8,16,32,64,128,256,512,1024"
    )]
    pub batches: Vec<usize>,
    /// Timed iterations per batch size and variant (medians are reported).
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// MNIST training samples to seal (batches are drawn from them).
    #[arg(long, default_value_t = 60000)]
    pub samples: usize,
    /// Worker threads of the training step (1: the decryption cost is not
    /// hidden behind idle cores or blurred by two thread pools taking turns).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[command(flatten)]
    pub mnist: MnistArg,
    /// Where the pool goes (default: /dev/shm, else the temporary directory).
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
    /// Output directory (decrypt.csv, decrypt.png).
    #[arg(long)]
    pub out: PathBuf,
}

fn run_decrypt(a: DecryptArgs) -> Result<()> {
    let opts = decrypt::DecryptOptions {
        cfg: a.cfg,
        batches: a.batches,
        iterations: a.iterations,
        warmup: a.warmup,
        samples: a.samples,
        threads: a.threads,
        mnist: a.mnist.mnist,
        pool_dir: a.pool_dir,
        out: a.out,
    };
    let report = decrypt::run(&opts, &mut |l| println!("{l}"))?;
    print!("{report}");
    Ok(())
}
