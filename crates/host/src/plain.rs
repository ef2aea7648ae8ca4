//! Plaintext training and evaluation (no PM, no sealing): `plinius train-plain`,
//! `plinius eval`, `plinius export-weights`. The development baseline and the
//! reference the secure pipeline is compared with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nn::idx::Split;
use nn::{Batch, BatchSampler, Network};

use crate::cfgcheck::load_cfg;

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
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
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

/// What a plain training run produced.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// Iterations run.
    pub iterations: u64,
    /// Loss of each iteration.
    pub losses: Vec<f32>,
    /// Test accuracy, unless skipped.
    pub test_accuracy: Option<f32>,
    /// Wall time of the training loop.
    pub seconds: f64,
}

/// Loads only the training split (`train-*`); the test split is read only
/// when it will be evaluated.
fn load_mnist_train(dir: &Path) -> Result<Split> {
    hostio::idx::load_split(dir, "train")
        .with_context(|| format!("loading the MNIST training split from {}", dir.display()))
}

/// Builds the network of `cfg` with `seed`, optional thread count and initial weights.
pub fn build_network(cfg: &Path, seed: u64, threads: Option<usize>) -> Result<Network> {
    let model = load_cfg(cfg)?;
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let mut net = Network::new(model, seed);
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        net.set_threads(t)?;
    }
    Ok(net)
}

/// Loads only the test split (`t10k-*`): evaluation needs nothing else.
fn load_mnist_test(dir: &Path) -> Result<Split> {
    hostio::idx::load_split(dir, "t10k")
        .with_context(|| format!("loading the MNIST test split from {}", dir.display()))
}

fn check_input(net: &Network, split: &Split) -> Result<()> {
    let per = split.images.rows * split.images.cols;
    if net.input_len() != per {
        bail!(
            "{}: the model takes {} values per image, MNIST images have {} (28x28x1)",
            net.config().origin,
            net.input_len(),
            per
        );
    }
    if net.classes() < 10 {
        bail!(
            "{}: the model has {} classes, MNIST needs 10",
            net.config().origin,
            net.classes()
        );
    }
    Ok(())
}

/// Runs plain training.
pub fn train(a: &TrainPlainArgs) -> Result<TrainReport> {
    let mut net = build_network(&a.cfg, a.seed, a.threads)?;
    if let Some(w) = &a.init_weights {
        hostio::weights::load_weights(&mut net, w)?;
        if a.clear {
            net.set_seen(0);
        }
    }
    let train = load_mnist_train(&a.mnist)?;
    check_input(&net, &train)?;
    // Read before training, so a missing test file fails at once.
    let test = if a.no_eval {
        None
    } else {
        Some(load_mnist_test(&a.mnist)?)
    };
    let iterations = a.iterations.unwrap_or(match net.config().net.max_batches {
        0 => 500,
        m => m,
    });
    let mut csv = match &a.loss_csv {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            );
            writeln!(f, "iteration,loss,learning_rate,seconds")?;
            Some((f, p.clone()))
        }
        None => None,
    };
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(iterations)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} iterations  {msg}  [{elapsed_precise} / ~{eta}]",
        )
        .expect("a valid template"),
    );
    let mut sampler = BatchSampler::new(a.seed, train.len());
    let mut batch = Batch::new(&net);
    let mut losses = Vec::with_capacity(iterations as usize);
    let start = Instant::now();
    let mut avg = None::<f32>;
    for _ in 0..iterations {
        batch.fill(&train, &mut sampler);
        let lr = net.next_learning_rate();
        let loss = net.train_step_u8(&batch.pixels, &batch.labels)?;
        if !loss.is_finite() {
            bar.abandon();
            bail!(
                "the loss diverged to {loss} at iteration {} (lower the learning rate)",
                net.iteration()
            );
        }
        losses.push(loss);
        // Darknet's running average loss.
        let a_ = avg.map_or(loss, |v| v * 0.9 + loss * 0.1);
        avg = Some(a_);
        let secs = start.elapsed().as_secs_f64();
        if let Some((f, p)) = &mut csv {
            writeln!(f, "{},{loss},{lr},{secs:.4}", net.iteration())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        let ips = net.batch() as f64 * losses.len() as f64 / secs.max(1e-9);
        bar.set_message(format!(
            "loss {loss:.4} (avg {a_:.4})  lr {lr:.5}  {ips:.0} images/s"
        ));
        bar.inc(1);
    }
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();
    if let Some((mut f, p)) = csv {
        f.flush()
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.save_weights {
        hostio::weights::save_weights(&net, p)?;
    }
    let test_accuracy = match &test {
        Some(t) => Some(net.evaluate_u8(&t.images.pixels, &t.labels)?),
        None => None,
    };
    Ok(TrainReport {
        iterations,
        losses,
        test_accuracy,
        seconds,
    })
}

/// `plinius train-plain`.
pub fn run_train(a: TrainPlainArgs) -> Result<()> {
    let r = train(&a)?;
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
    if let Some(p) = &a.save_weights {
        println!("weights: {}", p.display());
    }
    Ok(())
}

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
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
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

/// Test accuracy of `cfg` with the parameters of a `.weights` file, on the
/// MNIST test split of `mnist_dir` (only its `t10k-*` files are read).
pub fn eval_weights(
    cfg: &Path,
    weights: &Path,
    mnist_dir: &Path,
    threads: Option<usize>,
) -> Result<f32> {
    let mut net = build_network(cfg, 0, threads)?;
    hostio::weights::load_weights(&mut net, weights)?;
    let test = load_mnist_test(mnist_dir)?;
    check_input(&net, &test)?;
    Ok(net.evaluate_u8(&test.images.pixels, &test.labels)?)
}

/// `plinius eval` in its plain form (`--weights`).
pub fn run_eval(a: EvalArgs) -> Result<()> {
    if let Some(pool) = &a.pool {
        let opts = crate::job::JobOptions {
            pool: pool.clone(),
            checkpoint: a.checkpoint.clone(),
            platform: a.platform.clone(),
            threads: a.threads,
        };
        return crate::evalpool::run(
            &opts,
            a.mnist_test.as_deref().unwrap_or(&a.mnist),
            a.key.as_deref(),
        );
    }
    let (Some(cfg), Some(w)) = (&a.cfg, &a.weights) else {
        bail!("give the model and its parameters: --cfg FILE --weights FILE (or --pool FILE)");
    };
    let acc = eval_weights(cfg, w, &a.mnist, a.threads)?;
    println!(
        "test accuracy: {:.2}% (10,000 MNIST test images)",
        acc * 100.0
    );
    Ok(())
}

/// Arguments of `plinius export-weights` (plain form).
#[derive(Args, Debug, Clone)]
pub struct ExportWeightsArgs {
    /// The Darknet .cfg model.
    #[arg(long)]
    pub cfg: PathBuf,
    /// The .weights file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the initial weights (the same seed gives the same weights as
    /// `train-plain --seed`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `plinius export-weights`: writes a model's initial weights in Darknet's
/// format, so Darknet and Plinius can start from the same parameters.
pub fn run_export(a: ExportWeightsArgs) -> Result<()> {
    let net = build_network(&a.cfg, a.seed, Some(1))?;
    hostio::weights::save_weights(&net, &a.out)?;
    println!(
        "wrote {} ({} parameters, Darknet .weights 0.2.0)",
        a.out.display(),
        net.config().param_count()
    );
    Ok(())
}
