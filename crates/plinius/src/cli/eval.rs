//! `plinius eval`: test accuracy of a model on MNIST, from a .weights file
//! (plaintext) or from a training job's pool (inside the enclave).

use std::path::PathBuf;

use clap::Args;
use host::job::JobOptions;

use super::args::ThreadsArg;
use super::progress::Bars;

/// Arguments of `plinius eval`: a model and where its parameters come from.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The Darknet .cfg model (not with --pool: the pool holds its cfg sealed).
    #[arg(long, required_unless_present = "pool", conflicts_with = "pool")]
    pub cfg: Option<PathBuf>,
    /// Parameters from a Darknet .weights file.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Directory with the MNIST test files, t10k-* (raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Evaluate the model of a training job's pool inside the enclave.
    #[arg(long, conflicts_with = "weights")]
    pub pool: Option<PathBuf>,
    /// With --pool: directory with the MNIST test files (default: --mnist).
    #[arg(long, requires = "pool")]
    pub mnist_test: Option<PathBuf>,
    /// With --pool: the ssd mode's checkpoint file (default: `<pool>.ckpt`).
    #[arg(long, requires = "pool")]
    pub checkpoint: Option<PathBuf>,
    /// With --pool: the simulated platform directory.
    #[arg(long, requires = "pool")]
    pub platform: Option<PathBuf>,
    /// With --pool, development shortcut: the owner's key file, used only if
    /// the keys sealed in the pool do not unseal here.
    #[arg(long, requires = "pool")]
    pub key: Option<PathBuf>,
}

/// `plinius eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let threads = a.threads.threads;
    let mut bars = Bars::new(true);
    if let Some(pool) = &a.pool {
        let opts = JobOptions {
            pool: pool.clone(),
            checkpoint: a.checkpoint.clone(),
            platform: a.platform.clone(),
            threads,
        };
        let test = a.mnist_test.as_deref().unwrap_or(&a.mnist);
        let r = host::evaluate::eval_pool(&opts, test, a.key.as_deref(), &mut bars)?;
        println!("{}", r.summary(pool));
        return Ok(());
    }
    let (Some(cfg), Some(w)) = (&a.cfg, &a.weights) else {
        anyhow::bail!(
            "give the model and its parameters: --cfg FILE --weights FILE (or --pool FILE)"
        );
    };
    let acc = host::plaintext::eval_weights(cfg, w, &a.mnist, threads, &mut bars)?;
    println!("{}", host::plaintext::accuracy_line(acc));
    Ok(())
}
