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

use anyhow::{Context, Result, bail};
use enclave::{Enclave, MirrorMode, TrainConfig};
use nn::{BatchSampler, Network};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::csv::CsvWriter;
use crate::experiment::{InProcess, median, out_dir, pool_tempdir, pool_with_dataset};
use crate::plot::{LineChart, Series};

/// Arguments of `plinius bench decrypt`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchDecryptArgs {
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
    /// Directory with the MNIST gzip IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub mnist: PathBuf,
    /// Where the pool goes (default: /dev/shm, else the temporary directory).
    #[arg(long)]
    pub pool_dir: Option<PathBuf>,
    /// Output directory (decrypt.csv, decrypt.png).
    #[arg(long)]
    pub out: PathBuf,
}

/// CPU time consumed by the whole process (all its threads) so far.
pub fn process_cpu_time() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec we pass.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if r != 0 {
        return f64::NAN;
    }
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
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
    if !found {
        bail!("the cfg has no `batch=` line in its [net] section");
    }
    Ok(out)
}

fn measure_batch(
    ip: &InProcess,
    a: &BenchDecryptArgs,
    text: &str,
    batch: usize,
    data: &Path,
    plain: &nn::idx::Split,
    pools: &Path,
) -> Result<DecryptPoint> {
    let text = with_batch(text, batch)?;
    let origin = format!("{} (batch {batch})", a.cfg.display());
    let threads = a.threads;
    let seed = 1;
    let config = TrainConfig {
        threads,
        seed,
        mirror: MirrorMode::Romulus,
        mirror_every: 1,
    };
    let mut e = Enclave::new(ip.keys()?, &text, &origin, config)?;
    let plan = e.plan(std::fs::metadata(data)?.len());
    let path = pools.join(format!("decrypt-{batch}.pool"));
    let mut pool = pool_with_dataset(&path, &plan, data)?;
    let res = (|| -> Result<DecryptPoint> {
        e.attach(&mut pool)?;
        let mut net = Network::from_cfg_seeded(&text, &origin, seed)?;
        net.set_threads(threads)?;
        let n = a.samples.min(plain.len());
        let mut sampler = BatchSampler::new(seed, n);
        let px = plain.images.rows * plain.images.cols;
        let mut idx = vec![0usize; batch];
        let mut pixels = vec![0u8; batch * px];
        let mut labels = vec![0u8; batch];
        let (mut s_tot, mut s_load, mut p_tot, mut p_load) = (vec![], vec![], vec![], vec![]);
        let (mut s_cpu, mut p_cpu) = (vec![], vec![]);
        for i in 0..a.warmup + a.iterations {
            let c = process_cpu_time();
            let t = Instant::now();
            let r = e.step(&pool)?;
            let sealed = t.elapsed().as_secs_f64() * 1e3;
            let sealed_cpu = process_cpu_time() - c;
            let c = process_cpu_time();
            let t = Instant::now();
            sampler.fill(&mut idx);
            for (k, &j) in idx.iter().enumerate() {
                pixels[k * px..(k + 1) * px]
                    .copy_from_slice(&plain.images.pixels[j * px..(j + 1) * px]);
                labels[k] = plain.labels[j];
            }
            let load = t.elapsed().as_secs_f64() * 1e3;
            net.train_step_u8(&pixels, &labels)?;
            let total = t.elapsed().as_secs_f64() * 1e3;
            let plain_cpu = process_cpu_time() - c;
            if i >= a.warmup {
                s_cpu.push(sealed_cpu);
                p_cpu.push(plain_cpu);
                s_tot.push(sealed);
                s_load.push(r.load_ns as f64 / 1e6);
                p_tot.push(total);
                p_load.push(load);
            }
        }
        Ok(DecryptPoint {
            batch,
            plain_ms: median(p_tot),
            plain_cpu_ms: median(p_cpu),
            sealed_cpu_ms: median(s_cpu),
            plain_load_ms: median(p_load),
            sealed_ms: median(s_tot),
            sealed_load_ms: median(s_load),
        })
    })();
    drop(pool);
    let _ = std::fs::remove_file(&path);
    res
}

/// Runs `plinius bench decrypt`.
pub fn run(a: BenchDecryptArgs) -> Result<()> {
    if a.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    if a.batches.is_empty() || a.batches.contains(&0) {
        bail!("--batches must be positive batch sizes");
    }
    let text = std::fs::read_to_string(&a.cfg)
        .with_context(|| format!("{}: no such model cfg (cannot read it)", a.cfg.display()))?;
    with_batch(&text, 1).with_context(|| a.cfg.display().to_string())?;
    out_dir(&a.out)?;
    let ip = InProcess::new()?;
    let plain = hostio::idx::load_split(&a.mnist, "train")
        .with_context(|| format!("loading MNIST from {}", a.mnist.display()))?;
    let data = ip.seal_mnist(&a.mnist, a.samples)?;
    let pools = pool_tempdir(a.pool_dir.as_deref())?;
    println!(
        "{} sealed samples; {} timed iterations per batch size (medians), sealed and plain in turn",
        a.samples.min(plain.len()),
        a.iterations
    );
    println!(
        "{:>6} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>11}",
        "batch",
        "plain ms",
        "sealed ms",
        "(copy ms",
        "open ms)",
        "overhead",
        "CPU time",
        "from parts"
    );
    let mut points = Vec::new();
    for &b in &a.batches {
        let p = measure_batch(&ip, &a, &text, b, &data, &plain, pools.path())?;
        println!(
            "{:>6} {:>10.2} {:>10.2} {:>11.3} {:>11.3} {:>8.3}x {:>8.3}x {:>10.4}x",
            p.batch,
            p.plain_ms,
            p.sealed_ms,
            p.plain_load_ms,
            p.sealed_load_ms,
            p.overhead(),
            p.overhead_cpu(),
            p.overhead_from_parts()
        );
        points.push(p);
    }
    let n = points.len() as f64;
    let mean = points.iter().map(DecryptPoint::overhead).sum::<f64>() / n;
    let cpu = points.iter().map(DecryptPoint::overhead_cpu).sum::<f64>() / n;
    let parts = points
        .iter()
        .map(DecryptPoint::overhead_from_parts)
        .sum::<f64>()
        / n;
    println!(
        "mean overhead {mean:.3}x in wall time, {cpu:.3}x in CPU time, {parts:.4}x from the parts \
         (the paper: 1.2x)"
    );
    let mut w = CsvWriter::create(
        a.out.join("decrypt.csv"),
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
    for p in &points {
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
    LineChart {
        title: "Training on sealed batches vs plain batches (Fig. 8)".into(),
        x_label: "batch size".into(),
        y_label: "ms per iteration (median; wall and CPU time)".into(),
        log2_x: true,
        series: vec![
            Series::new(
                "plain, wall time",
                points
                    .iter()
                    .map(|p| (p.batch as f64, p.plain_ms))
                    .collect(),
            ),
            Series::new(
                "sealed (opened in the enclave), wall time",
                points
                    .iter()
                    .map(|p| (p.batch as f64, p.sealed_ms))
                    .collect(),
            ),
            Series::new(
                "plain, CPU time",
                points
                    .iter()
                    .map(|p| (p.batch as f64, p.plain_cpu_ms))
                    .collect(),
            ),
            Series::new(
                "sealed, CPU time",
                points
                    .iter()
                    .map(|p| (p.batch as f64, p.sealed_cpu_ms))
                    .collect(),
            ),
        ],
        ..Default::default()
    }
    .save_png(a.out.join("decrypt.png"))?;
    println!("outputs in {}: decrypt.csv, decrypt.png", a.out.display());
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
