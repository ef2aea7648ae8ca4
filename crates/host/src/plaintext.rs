//! Plaintext training and evaluation on MNIST (no PM, no sealing): `plinius
//! train-plain`, `plinius eval --weights`, `plinius export-weights`. The
//! development baseline and the reference the secure pipeline is compared with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nn::idx::Split;
use nn::{Batch, BatchSampler, Network};

use crate::cfgcheck::load_cfg;
use crate::error::{Context, HostError, Result, bail};
use crate::progress::{Event, IterationReport, Progress};

/// What a plaintext training run needs.
#[derive(Debug, Clone)]
pub struct TrainPlainOptions {
    /// The Darknet .cfg model.
    pub cfg: PathBuf,
    /// Directory with the MNIST IDX files (raw or .gz).
    pub mnist: PathBuf,
    /// Training iterations (batches); `None`: the cfg's max_batches, or 500.
    pub iterations: Option<u64>,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// Seed of the initial weights, dropout and batch sampling.
    pub seed: u64,
    /// Start from these Darknet .weights instead of random weights.
    pub init_weights: Option<PathBuf>,
    /// With `init_weights`: reset `seen` to 0 (Darknet's -clear).
    pub clear: bool,
    /// Write the trained model here as Darknet .weights.
    pub save_weights: Option<PathBuf>,
    /// Write the loss per iteration here (CSV: iteration,loss,learning_rate,seconds).
    pub loss_csv: Option<PathBuf>,
    /// Skip the test-set evaluation at the end.
    pub no_eval: bool,
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

/// Builds the network of `cfg` with `seed` and an optional thread count;
/// the cfg's warnings go to `progress` as [`Event::Warning`].
pub fn build_network(
    cfg: &Path,
    seed: u64,
    threads: Option<usize>,
    progress: &mut dyn Progress,
) -> Result<Network> {
    let model = load_cfg(cfg)?;
    for w in &model.warnings {
        progress.event(Event::Warning(w));
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

/// Opens the loss CSV of a plaintext run, with its header.
fn create_loss_csv(p: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
    );
    writeln!(f, "iteration,loss,learning_rate,seconds")
        .map_err(HostError::io(p, "write failed"))?;
    Ok(f)
}

/// Runs plaintext training, reporting [`Event::TrainStart`], one
/// [`Event::Iteration`] per iteration and [`Event::TrainDone`].
pub fn train_plain(a: &TrainPlainOptions, progress: &mut dyn Progress) -> Result<TrainReport> {
    let mut net = build_network(&a.cfg, a.seed, a.threads, progress)?;
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
        Some(p) => Some((create_loss_csv(p)?, p.clone())),
        None => None,
    };
    progress.event(Event::TrainStart {
        start: 0,
        target: iterations,
    });
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
            progress.event(Event::TrainDone { ok: false });
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
        progress.event(Event::Iteration(&IterationReport {
            iteration: net.iteration(),
            loss,
            avg_loss: a_,
            mirror_ms: None,
            learning_rate: Some(lr),
            images_per_sec: Some(net.batch() as f64 * losses.len() as f64 / secs.max(1e-9)),
        }));
    }
    progress.event(Event::TrainDone { ok: true });
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

/// Test accuracy of `cfg` with the parameters of a `.weights` file, on the
/// MNIST test split of `mnist_dir` (only its `t10k-*` files are read).
pub fn eval_weights(
    cfg: &Path,
    weights: &Path,
    mnist_dir: &Path,
    threads: Option<usize>,
    progress: &mut dyn Progress,
) -> Result<f32> {
    let mut net = build_network(cfg, 0, threads, progress)?;
    hostio::weights::load_weights(&mut net, weights)?;
    let test = load_mnist_test(mnist_dir)?;
    check_input(&net, &test)?;
    Ok(net.evaluate_u8(&test.images.pixels, &test.labels)?)
}

/// `plinius export-weights`: writes a model's initial weights (those of
/// `seed`) in Darknet's format to `out`, so Darknet and Plinius can start
/// from the same parameters. Returns the parameter count.
pub fn export_initial_weights(
    cfg: &Path,
    seed: u64,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<usize> {
    let net = build_network(cfg, seed, Some(1), progress)?;
    hostio::weights::save_weights(&net, out)?;
    Ok(net.config().param_count())
}

/// The line that gives a test accuracy (0..=1) on the 10,000 MNIST test
/// images.
pub fn accuracy_line(accuracy: f32) -> String {
    format!(
        "test accuracy: {:.2}% (10,000 MNIST test images)",
        accuracy * 100.0
    )
}

/// The run's time, speed and final loss, and its test accuracy if measured.
impl std::fmt::Display for TrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_iter = self.seconds * 1e3 / self.iterations.max(1) as f64;
        write!(
            f,
            "trained {} iterations in {:.1} s ({per_iter:.1} ms/iteration); final loss {:.4}",
            self.iterations,
            self.seconds,
            self.losses.last().copied().unwrap_or(f32::NAN)
        )?;
        if let Some(acc) = self.test_accuracy {
            write!(f, "\n{}", accuracy_line(acc))?;
        }
        Ok(())
    }
}
