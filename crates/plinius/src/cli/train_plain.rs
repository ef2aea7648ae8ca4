//! `plinius train-plain`: plaintext training on MNIST (no PM, no sealing),
//! the baseline.

use std::path::PathBuf;

use clap::Args;
use host::plaintext::{TrainPlainOptions, train_plain};

use super::args::ThreadsArg;
use super::progress::Bars;

/// Arguments of `plinius train-plain`.
#[derive(Args, Debug, Clone)]
pub struct TrainPlainArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// Directory with the MNIST IDX files (raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Training iterations (batches); default: the cfg's max_batches, or 500.
    #[arg(long)]
    pub iterations: Option<u64>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Seed of the initial weights, dropout and batch sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start from these Darknet .weights instead of random weights.
    #[arg(long)]
    pub init_weights: Option<PathBuf>,
    /// With --init-weights: reset `seen` to 0 (Darknet's -clear).
    #[arg(long)]
    pub clear: bool,
    /// Write the trained model here as Darknet .weights.
    #[arg(long)]
    pub save_weights: Option<PathBuf>,
    /// Write the loss per iteration here (CSV: iteration,loss,learning_rate,seconds).
    #[arg(long)]
    pub loss_csv: Option<PathBuf>,
    /// Skip the test-set evaluation at the end.
    #[arg(long)]
    pub no_eval: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `plinius train-plain`.
pub fn run(a: TrainPlainArgs) -> anyhow::Result<()> {
    let o = TrainPlainOptions {
        cfg: a.cfg,
        mnist: a.mnist,
        iterations: a.iterations,
        threads: a.threads.threads,
        seed: a.seed,
        init_weights: a.init_weights,
        clear: a.clear,
        save_weights: a.save_weights,
        loss_csv: a.loss_csv,
        no_eval: a.no_eval,
    };
    let r = train_plain(&o, &mut Bars::keeping(a.quiet))?;
    let per_iter = r.seconds * 1e3 / r.iterations.max(1) as f64;
    println!(
        "trained {} iterations in {:.1} s ({per_iter:.1} ms/iteration); final loss {:.4}",
        r.iterations,
        r.seconds,
        r.losses.last().copied().unwrap_or(f32::NAN)
    );
    if let Some(acc) = r.test_accuracy {
        println!(
            "test accuracy: {:.2}% (10,000 MNIST test images)",
            acc * 100.0
        );
    }
    if let Some(p) = &o.save_weights {
        println!("weights: {}", p.display());
    }
    Ok(())
}
