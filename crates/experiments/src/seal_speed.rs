//! `plinius bench seal`: AES-256-GCM seal and open throughput on one core,
//! through the same record API the enclave uses (prepared key, caller
//! buffers, no allocation per call).

use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use seal::{
    Key256, chunked_sealed_len, open_chunked_into, open_in_place, open_into, seal_chunked_into,
    seal_in_place, seal_into, sealed_len,
};

use crate::csv::CsvWriter;
use crate::error::{ExperimentError, Result};
use crate::stats::median;

/// The settings of the seal benchmark.
#[derive(Debug, Clone, Copy)]
pub struct SealOptions {
    /// Seconds of measurement per case and operation.
    pub seconds: f64,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions { seconds: 1.0 }
    }
}

/// What the table's first line says about the measurement.
pub const HEADLINE: &str = "AES-256-GCM (aws-lc-rs), one thread, plaintext GB/s (10^9 B/s): median and best of short batches";

/// One measured case.
#[derive(Clone, Debug)]
pub struct SealResult {
    /// `record` (one record, separate buffers), `chunked` (1 MiB chunks),
    /// `in-place` (one record, sealed and opened in its own buffer) or
    /// `chunked-nt` (1 MiB chunks streamed with non-temporal stores).
    pub api: &'static str,
    /// Plaintext bytes per operation.
    pub size: usize,
    /// Seal throughput (10^9 bytes of plaintext per second).
    pub seal: Rate,
    /// Open throughput (`None`: the case only seals).
    pub open: Option<Rate>,
}

/// A throughput: median and best batch, GB/s.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Median over batches.
    pub median: f64,
    /// Best batch: what the code does when the core is not shared (on a
    /// loaded machine the median mostly measures the scheduler).
    pub best: f64,
}

/// Times `op` in short batches for about `budget`; stops at its first error.
fn measure<T>(
    size: usize,
    budget: Duration,
    mut op: impl FnMut() -> seal::Result<T>,
) -> Result<Rate> {
    op()?; // warm up caches and pages
    let t = Instant::now();
    op()?;
    let one = t.elapsed().max(Duration::from_nanos(50));
    let per_batch = ((budget.as_secs_f64() / 20.0) / one.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let mut rates = Vec::new();
    let start = Instant::now();
    while rates.len() < 3 || (start.elapsed() < budget && rates.len() < 1000) {
        let t = Instant::now();
        for _ in 0..per_batch {
            op()?;
        }
        let secs = t.elapsed().as_secs_f64();
        rates.push((size * per_batch) as f64 / secs / 1e9);
    }
    Ok(Rate {
        best: rates.iter().copied().fold(f64::MIN, f64::max),
        median: median(rates),
    })
}

/// The additional data of every benchmark record.
const AAD: &[u8] = b"plinius bench seal";

/// Fails unless the opened bytes equal the plaintext.
fn same(opened: &[u8], plain: &[u8], what: &str) -> Result<()> {
    if opened == plain {
        Ok(())
    } else {
        Err(ExperimentError::Check(format!(
            "{what} differs from the plaintext"
        )))
    }
}

/// Runs the benchmark cases.
pub fn run(opts: &SealOptions) -> Result<SealReport> {
    let key = Key256::generate()?.seal_key();
    let budget = Duration::from_secs_f64(opts.seconds.max(0.05));
    let mut results = records(&key, budget)?;
    results.extend(whole_buffers(&key, budget)?);
    Ok(SealReport { results })
}

/// One record of 4 KiB, 1 MiB and 64 MiB, separate buffers.
fn records(key: &seal::SealKey, budget: Duration) -> Result<Vec<SealResult>> {
    let aad = AAD;
    let mut results = Vec::new();
    for size in [4 << 10, 1 << 20, 64 << 20] {
        let plain: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
        let mut rec = vec![0u8; sealed_len(size)];
        let mut out = vec![0u8; size];
        let seal_gbps = measure(size, budget, || {
            seal_into(key, aad, black_box(&plain), &mut rec)
        })?;
        let open_gbps = measure(size, budget, || {
            open_into(key, aad, black_box(&rec), &mut out)
        })?;
        same(&out, &plain, "opened record")?;
        results.push(SealResult {
            api: "record",
            size,
            seal: seal_gbps,
            open: Some(open_gbps),
        });
    }
    Ok(results)
}

/// 64 MiB in 1 MiB chunks, in place, and chunked with streaming stores.
fn whole_buffers(key: &seal::SealKey, budget: Duration) -> Result<Vec<SealResult>> {
    let aad = AAD;
    let mut results = Vec::new();
    let size = 64 << 20;
    let plain: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
    let mut sealed = vec![0u8; chunked_sealed_len(size)];
    let mut out = vec![0u8; size];
    let seal_gbps = measure(size, budget, || {
        seal_chunked_into(key, aad, black_box(&plain), &mut sealed)
    })?;
    let open_gbps = measure(size, budget, || {
        open_chunked_into(key, aad, black_box(&sealed), &mut out)
    })?;
    same(&out, &plain, "opened buffer")?;
    results.push(SealResult {
        api: "chunked",
        size,
        seal: seal_gbps,
        open: Some(open_gbps),
    });
    // In place on 64 MiB: one buffer instead of two, less memory traffic.
    // Sealing in place again re-encrypts the record body, so seal is timed
    // alone; open needs a freshly sealed record each time, so it is timed as
    // seal+open pairs minus the seal time.
    let mut buf = vec![0u8; sealed_len(size)];
    buf[seal::record::NONCE_LEN..seal::record::NONCE_LEN + size].copy_from_slice(&plain);
    let seal_gbps = measure(size, budget, || {
        seal_in_place(key, aad, black_box(&mut buf))
    })?;
    let pair_gbps = measure(size, budget, || {
        seal_in_place(key, aad, black_box(&mut buf))?;
        open_in_place(key, aad, &mut buf).map(|_| ())
    })?;
    let derive = |pair: f64, seal: f64| 1.0 / (1.0 / pair - 1.0 / seal).max(1e-6);
    results.push(SealResult {
        api: "in-place",
        size,
        seal: seal_gbps,
        open: Some(Rate {
            median: derive(pair_gbps.median, seal_gbps.median),
            best: derive(pair_gbps.best, seal_gbps.best),
        }),
    });
    // Chunked with streaming stores (for persistent memory); opens like `chunked`.
    let mut nt = seal::stream::NtSealer::new();
    let seal_gbps = measure(size, budget, || {
        nt.seal_chunked_into(key, aad, black_box(&plain), &mut sealed)
    })?;
    open_chunked_into(key, aad, &sealed, &mut out)?;
    same(&out, &plain, "opened streamed buffer")?;
    results.push(SealResult {
        api: "chunked-nt",
        size,
        seal: seal_gbps,
        open: None,
    });
    Ok(results)
}

fn human(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

/// The measured cases; shown as the table (after [`HEADLINE`]).
#[derive(Clone, Debug)]
pub struct SealReport {
    /// One result per case, in order.
    pub results: Vec<SealResult>,
}

impl fmt::Display for SealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>8} {:>11} {:>11} {:>11} {:>11}",
            "api", "size", "seal median", "seal best", "open median", "open best"
        )?;
        for r in &self.results {
            let (om, ob) = r.open.map_or(("-".to_string(), "-".to_string()), |o| {
                (format!("{:.2}", o.median), format!("{:.2}", o.best))
            });
            writeln!(
                f,
                "{:<10} {:>8} {:>11.2} {:>11.2} {:>11} {:>11}",
                r.api,
                human(r.size),
                r.seal.median,
                r.seal.best,
                om,
                ob
            )?;
        }
        Ok(())
    }
}

impl SealReport {
    /// Writes the CSV (`api,size_bytes,seal_gbps_median,...`).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut w = CsvWriter::create(
            path,
            &[
                "api",
                "size_bytes",
                "seal_gbps_median",
                "seal_gbps_best",
                "open_gbps_median",
                "open_gbps_best",
            ],
        )?;
        let f = |x: f64| format!("{x:.3}");
        for r in &self.results {
            let (om, ob) = r
                .open
                .map_or((String::new(), String::new()), |o| (f(o.median), f(o.best)));
            w.row(&[
                &r.api,
                &r.size,
                &f(r.seal.median),
                &f(r.seal.best),
                &om,
                &ob,
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
    fn table_and_csv_show_every_case() {
        let rate = Rate {
            median: 1.5,
            best: 2.0,
        };
        let report = SealReport {
            results: vec![
                SealResult {
                    api: "record",
                    size: 4096,
                    seal: rate,
                    open: Some(rate),
                },
                SealResult {
                    api: "chunked-nt",
                    size: 64 << 20,
                    seal: rate,
                    open: None,
                },
            ],
        };
        let t = report.to_string();
        assert!(
            t.contains("4 KiB") && t.contains("64 MiB") && t.contains("1.50"),
            "{t}"
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.csv");
        report.write_csv(&p).unwrap();
        let csv = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            csv.lines().nth(1),
            Some("record,4096,1.500,2.000,1.500,2.000")
        );
        assert_eq!(
            csv.lines().nth(2),
            Some("chunked-nt,67108864,1.500,2.000,,")
        );
        assert_eq!(human(1 << 20), "1 MiB");
    }
}
