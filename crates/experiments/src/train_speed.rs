//! `plinius bench train`: training speed of a model (ms per iteration,
//! images/s, achieved GFLOP/s, the FLOPs counted analytically from the cfg).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use host::plaintext::build_network;

use crate::Progress;

use crate::csv::CsvWriter;
use crate::error::{Result, require};
use crate::stats::{SplitMix64, live_threads_cpu_ns, median};

/// The settings of the training-speed benchmark.
#[derive(Debug, Clone)]
pub struct TrainSpeedOptions {
    /// The Darknet .cfg model.
    pub cfg: PathBuf,
    /// Thread counts to measure (empty: 1 and all cores).
    pub threads: Vec<usize>,
    /// Timed iterations per thread count.
    pub iterations: usize,
    /// Untimed iterations first.
    pub warmup: usize,
}

impl TrainSpeedOptions {
    /// Defaults for `cfg`: 10 timed iterations after 2 untimed, 1 thread and all cores.
    pub fn new(cfg: impl Into<PathBuf>) -> Self {
        TrainSpeedOptions {
            cfg: cfg.into(),
            threads: Vec::new(),
            iterations: 10,
            warmup: 2,
        }
    }
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

/// The file name of a model's cfg, as tables and CSVs name it.
pub fn model_name(cfg: &Path) -> String {
    cfg.file_name()
        .map_or_else(|| cfg.display().to_string(), |n| n.to_string_lossy().into())
}

/// Measures one thread count on deterministic synthetic pixels and labels.
fn measure_threads(
    opts: &TrainSpeedOptions,
    threads: usize,
    progress: Progress<'_>,
) -> Result<TrainPoint> {
    let mut warn = |e: host::Event<'_>| {
        if let host::Event::Warning(w) = e {
            progress(&format!("warning: {w}"));
        }
    };
    let mut net = build_network(&opts.cfg, 1, Some(threads), &mut warn)?;
    let n = net.batch() * net.input_len();
    let mut rng = SplitMix64(0x2545_f491_4f6c_dd1d);
    let pixels: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    let classes = (net.classes() as u64).min(256);
    let labels: Vec<u8> = (0..net.batch()).map(|_| rng.below(classes) as u8).collect();
    for _ in 0..opts.warmup {
        net.train_step_u8(&pixels, &labels)?;
    }
    let mut ms = Vec::with_capacity(opts.iterations);
    let cpu0 = live_threads_cpu_ns();
    for _ in 0..opts.iterations {
        let s = Instant::now();
        net.train_step_u8(&pixels, &labels)?;
        ms.push(s.elapsed().as_secs_f64() * 1e3);
    }
    let cpu_ms = match (cpu0, live_threads_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 / opts.iterations as f64),
        _ => None,
    };
    Ok(TrainPoint {
        threads,
        batch: net.batch(),
        ms_mean: ms.iter().sum::<f64>() / ms.len() as f64,
        ms_min: ms.iter().copied().fold(f64::INFINITY, f64::min),
        ms_median: median(ms),
        flops: net.flops_per_iteration(),
        cpu_ms,
    })
}

/// Measures training iterations of `opts.cfg` on synthetic data.
/// Cfg warnings go to `progress`.
pub fn run(opts: &TrainSpeedOptions, progress: Progress<'_>) -> Result<TrainSpeedReport> {
    require(opts.iterations > 0, || {
        "--iterations must be at least 1".into()
    })?;
    let threads = if opts.threads.is_empty() {
        let all = nn::default_threads();
        if all > 1 { vec![1, all] } else { vec![1] }
    } else {
        opts.threads.clone()
    };
    let points = threads
        .into_iter()
        .map(|t| measure_threads(opts, t, &mut *progress))
        .collect::<Result<_>>()?;
    Ok(TrainSpeedReport {
        model: model_name(&opts.cfg),
        points,
    })
}

/// The measured thread counts of one model; shown as the table.
#[derive(Debug, Clone)]
pub struct TrainSpeedReport {
    /// The model (cfg file name).
    pub model: String,
    /// One point per thread count.
    pub points: Vec<TrainPoint>,
}

impl fmt::Display for TrainSpeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
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
        )?;
        for p in &self.points {
            writeln!(
                f,
                "{:<24} {:>7} {:>5} {:>10.1} {:>8.1} {:>9.0} {:>10.2} {:>10.1} {:>12}",
                self.model,
                p.threads,
                p.batch,
                p.ms_median,
                p.ms_min,
                p.images_per_s(),
                p.flops as f64 / 1e9,
                p.gflops(),
                p.cpu_ms.map_or("-".to_string(), |c| format!("{c:.1}"))
            )?;
        }
        Ok(())
    }
}

impl TrainSpeedReport {
    /// Writes the CSV (`model,threads,batch,ms_median,...`).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut w = CsvWriter::create(
            path,
            &[
                "model",
                "threads",
                "batch",
                "ms_median",
                "ms_min",
                "ms_mean",
                "images_per_s",
                "gflop_per_iter",
                "gflop_per_s",
                "cpu_ms_per_iter",
            ],
        )?;
        for p in &self.points {
            w.row(&[
                &self.model,
                &p.threads,
                &p.batch,
                &format!("{:.3}", p.ms_median),
                &format!("{:.3}", p.ms_min),
                &format!("{:.3}", p.ms_mean),
                &format!("{:.1}", p.images_per_s()),
                &format!("{:.4}", p.flops as f64 / 1e9),
                &format!("{:.2}", p.gflops()),
                &p.cpu_ms.map_or(String::new(), |c| format!("{c:.3}")),
            ])?;
        }
        w.finish()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_csv_of_a_point() {
        let r = TrainSpeedReport {
            model: "m.cfg".into(),
            points: vec![TrainPoint {
                threads: 2,
                batch: 64,
                ms_median: 10.0,
                ms_min: 9.0,
                ms_mean: 11.0,
                flops: 2_000_000_000,
                cpu_ms: None,
            }],
        };
        assert_eq!(r.points[0].images_per_s(), 6400.0);
        assert_eq!(r.points[0].gflops(), 200.0);
        let t = r.to_string();
        assert!(t.contains("GFLOP/s") && t.contains("6400"), "{t}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        r.write_csv(&p).unwrap();
        let csv = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            csv.lines().nth(1),
            Some("m.cfg,2,64,10.000,9.000,11.000,6400.0,2.0000,200.00,")
        );
        assert_eq!(model_name(Path::new("cfg/a.cfg")), "a.cfg");
    }
}
