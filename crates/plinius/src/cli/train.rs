//! `plinius train`: secure, crash-resilient training (see `host::train`).
//! Killed at any moment, the same command resumes from the last mirror.

use std::path::PathBuf;

use clap::Args;
use host::import::ImportOutcome;
use host::job::{JobOptions, StartOptions, StartReport};
use host::keys::KeySource;
use host::train::{TrainOptions, Training};

use super::args::{CheckpointArg, MirrorArg, PlatformArg, QuietArg};
use super::progress::Bars;

/// Arguments of `plinius train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// The owner's sealed training dataset (needed until it is imported into the pool).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The job's pool file (created on first use; /dev/shm or a DAX file system for PM).
    #[arg(long)]
    pub pool: PathBuf,
    /// Train until the model has done N iterations in total (default: the cfg's max_batches).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// How the model is mirrored, fixed when the pool is created (default: the
    /// pool's mode; `romulus` for a new pool).
    #[arg(long, value_enum)]
    pub mirror: Option<MirrorArg>,
    /// Mirror-out every K iterations (and after the last one).
    #[arg(long, default_value_t = 1)]
    pub mirror_every: u64,
    /// Worker threads (default: all cores; results do not depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the initial weights, dropout and batch sampling (first start only).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Development shortcut for the first start: the owner's key file; simulated
    /// evidence and provisioning run in-process.
    #[arg(long, conflicts_with = "bundle")]
    pub key: Option<PathBuf>,
    /// The key bundle the owner provisioned for this enclave (first start).
    #[arg(long, requires = "state")]
    pub bundle: Option<PathBuf>,
    /// The enclave session state written by `plinius enclave evidence` (with --bundle).
    #[arg(long)]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint: CheckpointArg,
    #[command(flatten)]
    pub platform: PlatformArg,
    /// Write iteration,loss,ms per iteration here (kept across restarts).
    #[arg(long)]
    pub loss_csv: Option<PathBuf>,
    #[command(flatten)]
    pub quiet: QuietArg,
}

impl TrainArgs {
    fn options(&self) -> TrainOptions {
        let keys = match (&self.key, &self.bundle, &self.state) {
            (Some(k), _, _) => KeySource::OwnerKey(k.clone()),
            (None, Some(b), Some(s)) => KeySource::Bundle {
                bundle: b.clone(),
                state: s.clone(),
            },
            _ => KeySource::Pool,
        };
        TrainOptions {
            start: StartOptions {
                job: JobOptions {
                    pool: self.pool.clone(),
                    checkpoint: self.checkpoint.checkpoint.clone(),
                    platform: self.platform.platform.clone(),
                    threads: self.threads,
                },
                cfg: self.cfg.clone(),
                data: self.data.clone(),
                keys,
                seed: self.seed,
                mirror: self.mirror.map(Into::into),
                mirror_every: self.mirror_every,
            },
            iterations: self.iterations,
            loss_csv: self.loss_csv.clone(),
        }
    }
}

/// The status lines of a job's start.
fn print_start(a: &TrainArgs, rep: &StartReport) {
    if let Some(n) = &rep.note {
        println!("note: {n}");
    }
    if rep.pool_created {
        println!("created pool {}", a.pool.display());
    }
    match rep.import {
        Some(ImportOutcome::Imported { bytes }) => {
            println!("imported the sealed dataset ({bytes} bytes)")
        }
        Some(ImportOutcome::Resumed { from, total }) => {
            println!("resumed the interrupted dataset import at byte {from} of {total}")
        }
        _ => {}
    }
    let at = &rep.attached;
    if at.created {
        println!(
            "started a new job: mirror mode {}, seed {}, keys from the {}; initial mirror {} bytes in {:.1} ms",
            at.mode,
            at.seed,
            rep.keys_from,
            at.mirror_out.map_or(0, |m| m.bytes),
            at.mirror_out.map_or(0.0, |m| m.total_ns as f64 / 1e6)
        );
    } else {
        println!(
            "resumed from iteration {} (mirror mode {}, seed {}, mirror-in {:.1} ms; keys from the {})",
            at.iteration,
            at.mode,
            at.seed,
            at.mirror_in.map_or(0.0, |m| m.total_ns as f64 / 1e6),
            rep.keys_from
        );
        if (a.key.is_some() || a.bundle.is_some()) && rep.note.is_none() {
            println!(
                "note: --key/--bundle not used: the pool holds the job's keys, sealed to this platform"
            );
        }
    }
}

/// `plinius train`.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let mut bars = Bars::new(a.quiet.quiet);
    let training = Training::start(&a.options(), &mut bars)?;
    print_start(&a, training.report());
    let (start, target) = (training.iteration(), training.target());
    if start >= target {
        println!("nothing to do: the model has done {start} iterations (target {target})");
        return Ok(());
    }
    let sum = training.run(&mut bars)?.summary;
    let n = (sum.end_iteration - sum.start_iteration).max(1) as f64;
    println!(
        "trained iterations {}..{} (loss {:.4}, avg {:.4}); per iteration: batch loading {:.2} ms, training {:.1} ms, \
         mirror-out {:.2} ms ({} mirror-outs)",
        sum.start_iteration + 1,
        sum.end_iteration,
        sum.last_loss,
        sum.avg_loss,
        sum.load_ns as f64 / 1e6 / n,
        sum.train_ns as f64 / 1e6 / n,
        sum.mirror_ns as f64 / 1e6 / sum.mirrors.max(1) as f64,
        sum.mirrors
    );
    Ok(())
}
