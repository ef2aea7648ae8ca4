//! `plinius bench train`: training speed of a model (ms per iteration,
//! images/s, achieved GFLOP/s, the FLOPs counted analytically from the cfg).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use host::plaintext::build_network;

/// Arguments of `plinius bench train`.
#[derive(Args, Debug, Clone)]
pub struct BenchTrainArgs {
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
    /// Write the results here as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
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

/// CPU time consumed so far by all threads of this process, in nanoseconds
/// (Linux `/proc/self/task/*/schedstat`; `None` elsewhere). Threads that
/// already exited are not counted, so take differences around work done by
/// live threads only.
pub fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let p = e.ok()?.path().join("schedstat");
        let s = std::fs::read_to_string(p).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct TrainPoint {
    /// Threads.
    pub threads: usize,
    /// Images per iteration.
    pub batch: usize,
    /// Median milliseconds per iteration.
    pub ms_median: f64,
    /// Fastest iteration.
    pub ms_min: f64,
    /// Mean milliseconds per iteration.
    pub ms_mean: f64,
    /// FLOPs of one iteration.
    pub flops: u64,
    /// CPU milliseconds per iteration, all threads together (when known):
    /// close to `threads x ms` on an idle machine, lower when other processes
    /// compete for the cores.
    pub cpu_ms: Option<f64>,
}

impl TrainPoint {
    /// Images per second at the median.
    pub fn images_per_s(&self) -> f64 {
        self.batch as f64 / (self.ms_median / 1e3)
    }

    /// GFLOP/s at the median.
    pub fn gflops(&self) -> f64 {
        self.flops as f64 / 1e9 / (self.ms_median / 1e3)
    }
}

/// Measures training iterations of `args.cfg` on synthetic data.
pub fn measure(args: &BenchTrainArgs) -> Result<Vec<TrainPoint>> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let threads = if args.threads.is_empty() {
        let all = nn::default_threads();
        if all > 1 { vec![1, all] } else { vec![1] }
    } else {
        args.threads.clone()
    };
    let mut points = Vec::new();
    for &t in &threads {
        let mut net = build_network(&args.cfg, 1, Some(t), &mut |e: host::Event<'_>| {
            if let host::Event::Warning(w) = e {
                eprintln!("warning: {w}");
            }
        })?;
        let n = net.batch() * net.input_len();
        // Deterministic synthetic pixels and labels (xorshift).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pixels: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        let classes = net.classes() as u64;
        let labels: Vec<u8> = (0..net.batch())
            .map(|_| (next() % classes.min(256)) as u8)
            .collect();
        for _ in 0..args.warmup {
            net.train_step_u8(&pixels, &labels)?;
        }
        let mut ms = Vec::with_capacity(args.iterations);
        let cpu0 = process_cpu_ns();
        for _ in 0..args.iterations {
            let s = Instant::now();
            net.train_step_u8(&pixels, &labels)?;
            ms.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let cpu_ms = match (cpu0, process_cpu_ns()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 / args.iterations as f64),
            _ => None,
        };
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        ms.sort_by(f64::total_cmp);
        let median = if ms.len() % 2 == 1 {
            ms[ms.len() / 2]
        } else {
            (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
        };
        points.push(TrainPoint {
            threads: t,
            batch: net.batch(),
            ms_median: median,
            ms_min: ms[0],
            ms_mean: mean,
            flops: net.flops_per_iteration(),
            cpu_ms,
        });
    }
    Ok(points)
}

/// The results as a table.
pub fn table(cfg: &str, points: &[TrainPoint]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>7} {:>5} {:>10} {:>8} {:>9} {:>10} {:>10} {:>12}",
        "model",
        "threads",
        "batch",
        "ms/iter",
        "min ms",
        "images/s",
        "GFLOP/iter",
        "GFLOP/s",
        "CPU ms/iter"
    );
    for p in points {
        let _ = writeln!(
            s,
            "{:<24} {:>7} {:>5} {:>10.1} {:>8.1} {:>9.0} {:>10.2} {:>10.1} {:>12}",
            cfg,
            p.threads,
            p.batch,
            p.ms_median,
            p.ms_min,
            p.images_per_s(),
            p.flops as f64 / 1e9,
            p.gflops(),
            p.cpu_ms.map_or("-".to_string(), |c| format!("{c:.1}"))
        );
    }
    s
}

/// `plinius bench train`.
pub fn run(args: BenchTrainArgs) -> Result<()> {
    if args.pipeline {
        return crate::benchpipeline::run(&crate::benchpipeline::PipelineArgs {
            cfg: args.cfg.clone(),
            threads: args.threads.first().copied(),
            iterations: args.iterations,
            warmup: args.warmup,
            mnist: args.mnist.clone(),
            samples: 10_000,
            pool_dir: args.pool_dir.clone(),
            ckpt_dir: args.ckpt_dir.clone(),
            csv: args.csv.clone(),
        });
    }
    let points = measure(&args)?;
    let name = args.cfg.file_name().map_or_else(
        || args.cfg.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    print!("{}", table(&name, &points));
    if let Some(path) = &args.csv {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut s = String::from(
            "model,threads,batch,ms_median,ms_min,ms_mean,images_per_s,gflop_per_iter,gflop_per_s,cpu_ms_per_iter\n",
        );
        for p in &points {
            s += &format!(
                "{name},{},{},{:.3},{:.3},{:.3},{:.1},{:.4},{:.2},{}\n",
                p.threads,
                p.batch,
                p.ms_median,
                p.ms_min,
                p.ms_mean,
                p.images_per_s(),
                p.flops as f64 / 1e9,
                p.gflops(),
                p.cpu_ms.map_or(String::new(), |c| format!("{c:.3}"))
            );
        }
        f.write_all(s.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
