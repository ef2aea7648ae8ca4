//! `plinius bench decrypt`: the cost of training on sealed data (Fig. 8 of
//! the PLINIUS paper): time per iteration against the batch size, with the
//! batch opened from sealed records in the pool against a plain batch.
//!
//! For each batch size the same model (the cfg with `batch=` replaced) is
//! trained from the same seed two ways, iteration by iteration in turn so
//! that both see the same machine load:
//! - **sealed**: the enclave draws the batch indices, opens those records of
//!   the sealed dataset in the pool (in place) and trains one step;
//! - **plain**: the same draw from the plain MNIST bytes in memory, copied into
//!   a batch buffer, then the same training step.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use enclave::{Enclave, MirrorMode, TrainConfig};
use nn::{BatchSampler, Network};

use crate::Progress;
use crate::csv::CsvWriter;
use crate::error::{Context, ExperimentError, Result, require};
use crate::in_process::InProcess;
use crate::plot::{LineChart, Series};
use crate::pools::{RemoveOnDrop, out_dir, pool_tempdir, pool_with_dataset};
use crate::stats::{median, process_cpu_ms};

/// The settings of the decrypt benchmark.
#[derive(Debug, Clone)]
pub struct DecryptOptions {
    /// The model (its batch size is replaced by each of `batches`).
    pub cfg: PathBuf,
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Timed iterations per batch size and variant (medians are reported).
    pub iterations: usize,
    /// Untimed iterations first.
    pub warmup: usize,
    /// MNIST training samples to seal (batches are drawn from them).
    pub samples: usize,
    /// Worker threads of the training step (1: the decryption cost is not
    /// hidden behind idle cores or blurred by two thread pools taking turns).
    pub threads: usize,
    /// Directory with the MNIST gzip IDX files.
    pub mnist: PathBuf,
    /// Where the pool goes (default: /dev/shm, else the temporary directory).
    pub pool_dir: Option<PathBuf>,
    /// Output directory (decrypt.csv, decrypt.png).
    pub out: PathBuf,
}

impl DecryptOptions {
    /// The paper's settings (`cfg/mnist5.cfg`, batches 8 to 1024, 10 timed
    /// iterations after 2, all 60,000 samples, one thread), outputs in `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        DecryptOptions {
            cfg: PathBuf::from("cfg/mnist5.cfg"),
            batches: vec![8, 16, 32, 64, 128, 256, 512, 1024],
            iterations: 10,
            warmup: 2,
            samples: 60000,
            threads: 1,
            mnist: PathBuf::from("data/mnist"),
            pool_dir: None,
            out: out.into(),
        }
    }
}

/// Medians for one batch size, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct DecryptPoint {
    /// Images per iteration.
    pub batch: usize,
    /// Plain iteration: batch copy + training step.
    pub plain_ms: f64,
    /// CPU time of the plain iteration (all threads of the process).
    pub plain_cpu_ms: f64,
    /// CPU time of the sealed iteration.
    pub sealed_cpu_ms: f64,
    /// Of which the plain batch copy.
    pub plain_load_ms: f64,
    /// Sealed iteration: batch opening + training step.
    pub sealed_ms: f64,
    /// Of which opening the sealed records.
    pub sealed_load_ms: f64,
}

impl DecryptPoint {
    /// Sealed over plain iteration time (both measured whole).
    pub fn overhead(&self) -> f64 {
        self.sealed_ms / self.plain_ms
    }

    /// Sealed over plain iteration CPU time: what the work costs, whatever
    /// else the machine runs.
    pub fn overhead_cpu(&self) -> f64 {
        self.sealed_cpu_ms / self.plain_cpu_ms
    }

    /// The overhead from the parts: the plain iteration with its batch copy
    /// replaced by opening the sealed records, over the plain iteration. Less
    /// sensitive to machine load than [`DecryptPoint::overhead`].
    pub fn overhead_from_parts(&self) -> f64 {
        (self.plain_ms - self.plain_load_ms + self.sealed_load_ms) / self.plain_ms
    }
}

/// The cfg text with its `batch=` (and `subdivisions=`) set.
pub fn with_batch(text: &str, batch: usize) -> Result<String> {
    let mut found = false;
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "batch" && !found {
            out.push_str(&format!("batch={batch}\n"));
            found = true;
        } else if key == "subdivisions" {
            out.push_str("subdivisions=1\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    require(found, || {
        "the cfg has no `batch=` line in its [net] section".into()
    })?;
    Ok(out)
}

/// The timings of the timed iterations of each variant, ms.
#[derive(Default)]
struct Samples {
    sealed: Vec<f64>,
    sealed_load: Vec<f64>,
    sealed_cpu: Vec<f64>,
    plain: Vec<f64>,
    plain_load: Vec<f64>,
    plain_cpu: Vec<f64>,
}

/// The plain variant's model, sampler and batch buffers.
struct PlainTrainer<'a> {
    net: Network,
    sampler: BatchSampler,
    data: &'a nn::idx::Split,
    idx: Vec<usize>,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl PlainTrainer<'_> {
    /// Draws, copies and trains one batch; returns (copy ms, total ms).
    fn step(&mut self) -> Result<(f64, f64)> {
        let px = self.data.images.rows * self.data.images.cols;
        let t = Instant::now();
        self.sampler.fill(&mut self.idx);
        for (k, &j) in self.idx.iter().enumerate() {
            self.pixels[k * px..(k + 1) * px]
                .copy_from_slice(&self.data.images.pixels[j * px..(j + 1) * px]);
            self.labels[k] = self.data.labels[j];
        }
        let load = t.elapsed().as_secs_f64() * 1e3;
        self.net.train_step_u8(&self.pixels, &self.labels)?;
        Ok((load, t.elapsed().as_secs_f64() * 1e3))
    }
}

/// Sealed and plain iterations in turn, `warmup + iterations` of each.
fn time_iterations(
    a: &DecryptOptions,
    e: &mut Enclave,
    pool: &ptm::Pool,
    plain: &mut PlainTrainer<'_>,
) -> Result<Samples> {
    let mut s = Samples::default();
    for i in 0..a.warmup + a.iterations {
        let c = process_cpu_ms();
        let t = Instant::now();
        let r = e.step(pool)?;
        let sealed = t.elapsed().as_secs_f64() * 1e3;
        let sealed_cpu = process_cpu_ms() - c;
        let c = process_cpu_ms();
        let (load, total) = plain.step()?;
        let plain_cpu = process_cpu_ms() - c;
        if i >= a.warmup {
            s.sealed_cpu.push(sealed_cpu);
            s.plain_cpu.push(plain_cpu);
            s.sealed.push(sealed);
            s.sealed_load.push(r.load_ns as f64 / 1e6);
            s.plain.push(total);
            s.plain_load.push(load);
        }
    }
    Ok(s)
}

fn measure_batch(
    ip: &InProcess,
    a: &DecryptOptions,
    text: &str,
    batch: usize,
    data: &Path,
    plain: &nn::idx::Split,
    pools: &Path,
) -> Result<DecryptPoint> {
    let text = with_batch(text, batch)?;
    let origin = format!("{} (batch {batch})", a.cfg.display());
    let seed = 1;
    let config = TrainConfig {
        threads: a.threads,
        seed,
        mirror: MirrorMode::Romulus,
        mirror_every: 1,
    };
    let mut e = Enclave::new(ip.keys()?, &text, &origin, config)?;
    let data_len = std::fs::metadata(data)
        .map_err(ExperimentError::io(data, "cannot read"))?
        .len();
    let plan = e.plan(data_len);
    let path = pools.join(format!("decrypt-{batch}.pool"));
    let _remove = RemoveOnDrop(path.clone());
    let mut pool = pool_with_dataset(&path, &plan, data)?;
    e.attach(&mut pool)?;
    let mut net = Network::from_cfg_seeded(&text, &origin, seed)?;
    net.set_threads(a.threads)?;
    let px = plain.images.rows * plain.images.cols;
    let mut trainer = PlainTrainer {
        net,
        sampler: BatchSampler::new(seed, a.samples.min(plain.len())),
        data: plain,
        idx: vec![0usize; batch],
        pixels: vec![0u8; batch * px],
        labels: vec![0u8; batch],
    };
    let s = time_iterations(a, &mut e, &pool, &mut trainer)?;
    Ok(DecryptPoint {
        batch,
        plain_ms: median(s.plain),
        plain_cpu_ms: median(s.plain_cpu),
        sealed_cpu_ms: median(s.sealed_cpu),
        plain_load_ms: median(s.plain_load),
        sealed_ms: median(s.sealed),
        sealed_load_ms: median(s.sealed_load),
    })
}

impl DecryptPoint {
    /// The table header of [`DecryptPoint::row`].
    pub fn header() -> String {
        format!(
            "{:>6} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>11}",
            "batch",
            "plain ms",
            "sealed ms",
            "(copy ms",
            "open ms)",
            "overhead",
            "CPU time",
            "from parts"
        )
    }

    /// The point as a table row.
    pub fn row(&self) -> String {
        format!(
            "{:>6} {:>10.2} {:>10.2} {:>11.3} {:>11.3} {:>8.3}x {:>8.3}x {:>10.4}x",
            self.batch,
            self.plain_ms,
            self.sealed_ms,
            self.plain_load_ms,
            self.sealed_load_ms,
            self.overhead(),
            self.overhead_cpu(),
            self.overhead_from_parts()
        )
    }
}

/// Checks the options; returns the model's cfg text.
fn check_options(a: &DecryptOptions) -> Result<String> {
    require(a.iterations > 0, || {
        "--iterations must be at least 1".into()
    })?;
    require(!a.batches.is_empty() && !a.batches.contains(&0), || {
        "--batches must be positive batch sizes".into()
    })?;
    let text = std::fs::read_to_string(&a.cfg).map_err(ExperimentError::io(
        &a.cfg,
        "no such model cfg (cannot read it)",
    ))?;
    with_batch(&text, 1).context_with(|| a.cfg.display().to_string())?;
    Ok(text)
}

/// Runs the decrypt benchmark: the settings line, the table header and a
/// row per batch size go to `progress` as measured; the outputs are written
/// to `a.out`.
pub fn run(a: &DecryptOptions, progress: Progress<'_>) -> Result<DecryptReport> {
    let text = check_options(a)?;
    out_dir(&a.out)?;
    let ip = InProcess::new()?;
    let plain = hostio::idx::load_split(&a.mnist, "train")
        .context_with(|| format!("loading MNIST from {}", a.mnist.display()))?;
    let data = ip.seal_mnist(&a.mnist, a.samples)?;
    let pools = pool_tempdir(a.pool_dir.as_deref())?;
    progress(&format!(
        "{} sealed samples; {} timed iterations per batch size (medians), sealed and plain in turn",
        a.samples.min(plain.len()),
        a.iterations
    ));
    progress(&DecryptPoint::header());
    let mut points = Vec::new();
    for &b in &a.batches {
        let p = measure_batch(&ip, a, &text, b, &data, &plain, pools.path())?;
        progress(&p.row());
        points.push(p);
    }
    write_csv(&a.out.join("decrypt.csv"), &points)?;
    write_plot(&a.out.join("decrypt.png"), &points)?;
    Ok(DecryptReport {
        points,
        out: a.out.clone(),
    })
}

/// The points of a run; shown as the mean overheads and the list of outputs
/// (the points went to the progress lines).
#[derive(Debug, Clone)]
pub struct DecryptReport {
    /// One point per batch size.
    pub points: Vec<DecryptPoint>,
    /// The output directory.
    pub out: PathBuf,
}

impl fmt::Display for DecryptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.points.len() as f64;
        let mean = |g: fn(&DecryptPoint) -> f64| self.points.iter().map(g).sum::<f64>() / n;
        writeln!(
            f,
            "mean overhead {:.3}x in wall time, {:.3}x in CPU time, {:.4}x from the parts \
             (the paper: 1.2x)",
            mean(DecryptPoint::overhead),
            mean(DecryptPoint::overhead_cpu),
            mean(DecryptPoint::overhead_from_parts)
        )?;
        writeln!(
            f,
            "outputs in {}: decrypt.csv, decrypt.png",
            self.out.display()
        )
    }
}

fn write_csv(path: &Path, points: &[DecryptPoint]) -> Result<()> {
    let mut w = CsvWriter::create(
        path,
        &[
            "batch",
            "plain_ms",
            "plain_copy_ms",
            "sealed_ms",
            "sealed_open_ms",
            "overhead",
            "plain_cpu_ms",
            "sealed_cpu_ms",
            "overhead_cpu",
            "overhead_from_parts",
        ],
    )?;
    let f = |x: f64| format!("{x:.4}");
    for p in points {
        w.row(&[
            &p.batch,
            &f(p.plain_ms),
            &f(p.plain_load_ms),
            &f(p.sealed_ms),
            &f(p.sealed_load_ms),
            &f(p.overhead()),
            &f(p.plain_cpu_ms),
            &f(p.sealed_cpu_ms),
            &f(p.overhead_cpu()),
            &f(p.overhead_from_parts()),
        ])?;
    }
    w.finish()?;
    Ok(())
}

fn write_plot(path: &Path, points: &[DecryptPoint]) -> Result<()> {
    let line = |name: &str, g: fn(&DecryptPoint) -> f64| {
        Series::new(
            name,
            points.iter().map(|p| (p.batch as f64, g(p))).collect(),
        )
    };
    LineChart {
        title: "Training on sealed batches vs plain batches (Fig. 8)".into(),
        x_label: "batch size".into(),
        y_label: "ms per iteration (median; wall and CPU time)".into(),
        log2_x: true,
        series: vec![
            line("plain, wall time", |p| p.plain_ms),
            line("sealed (opened in the enclave), wall time", |p| p.sealed_ms),
            line("plain, CPU time", |p| p.plain_cpu_ms),
            line("sealed, CPU time", |p| p.sealed_cpu_ms),
        ],
        ..Default::default()
    }
    .save_png(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_replaced_once_and_subdivisions_reset() {
        let t = "[net]\nbatch=128\nsubdivisions=4\n[conv]\nbatch=3\n";
        assert_eq!(
            with_batch(t, 8).unwrap(),
            "[net]\nbatch=8\nsubdivisions=1\n[conv]\nbatch=3\n"
        );
        assert!(with_batch("[net]\nwidth=2\n", 8).is_err());
    }
}
