//! `plinius train-plain`: plaintext training on MNIST (no PM, no sealing),
//! the baseline.

use std::path::PathBuf;

use clap::Args;
use host::plaintext::{TrainPlainOptions, train_plain};

use super::args::{QuietArg, SeedArg, ThreadsArg};
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
    #[command(flatten)]
    pub seed: SeedArg,
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
    #[command(flatten)]
    pub quiet: QuietArg,
}

/// `plinius train-plain`.
pub fn run(a: TrainPlainArgs) -> anyhow::Result<()> {
    let o = TrainPlainOptions {
        cfg: a.cfg,
        mnist: a.mnist,
        iterations: a.iterations,
        threads: a.threads.threads,
        seed: a.seed.seed,
        init_weights: a.init_weights,
        clear: a.clear,
        save_weights: a.save_weights,
        loss_csv: a.loss_csv,
        no_eval: a.no_eval,
    };
    let r = train_plain(&o, &mut Bars::keeping(a.quiet.quiet))?;
    println!("{r}");
    if let Some(p) = &o.save_weights {
        println!("weights: {}", p.display());
    }
    Ok(())
}
