//! The paper's experiments end to end through the real binary, on reduced
//! settings: `crash-test` (Fig. 9), `spot` (Fig. 10), `bench mirror` (Fig. 7,
//! Table I) and `bench decrypt` (Fig. 8).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{conv_pool_cfg, mnist_arg, mnist_net_cfg};

fn plinius() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plinius"))
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A small CNN (a few ms per iteration) for quick experiments.
const SMALL_CFG: &str = concat!(
    mnist_net_cfg!("learning_rate=0.01", "policy=constant"),
    conv_pool_cfg!(16),
    conv_pool_cfg!(32),
    "[connected]
output=10
activation=linear

[softmax]
"
);

fn small_cfg(dir: &Path) -> PathBuf {
    let p = dir.join("small.cfg");
    std::fs::write(&p, SMALL_CFG).unwrap();
    p
}

fn run(args: &[String]) -> Output {
    plinius().args(args).output().unwrap()
}

fn ok(args: &[String]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "plinius {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(args: &[String]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "plinius {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// The arguments that end an experiment's command: the repository's MNIST,
/// the model `cfg` and the output directory `out`.
fn inputs(cfg: &Path, out: &Path) -> Vec<String> {
    args(&["--mnist", &mnist_arg(), "--cfg", &s(cfg), "--out", &s(out)])
}

/// A CSV file as its header and rows of fields.
fn read_csv(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn is_png(p: &Path) -> bool {
    std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x89PNG") && b.len() > 1000)
}

#[test]
fn crash_test_resumes_bit_identical_to_the_baseline() {
    let d = tempfile::tempdir().unwrap();
    let cfg = small_cfg(d.path());
    let out = d.path().join("out");
    let stdout = ok(&[
        args(&[
            "crash-test",
            "--kills",
            "3",
            "--iterations",
            "30",
            "--limit",
            "2000",
            "--threads",
            "1",
        ]),
        inputs(&cfg, &out),
    ]
    .concat());
    assert!(stdout.contains("IDENTICAL to the baseline"), "{stdout}");

    let (h, rows) = read_csv(&out.join("crash_test.csv"));
    assert_eq!(h, ["variant", "run", "executed", "iteration", "loss"]);
    let of = |v: &str| -> Vec<(u64, u64, f64)> {
        rows.iter()
            .filter(|r| r[0] == v)
            .map(|r| {
                (
                    r[2].parse().unwrap(),
                    r[3].parse().unwrap(),
                    r[4].parse().unwrap(),
                )
            })
            .collect()
    };
    let base = of("baseline");
    let res = of("resilient");
    let nm = of("no-mirror");
    // Every iteration exactly once, in order: nothing completed was lost.
    assert_eq!(
        base.iter().map(|r| r.1).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    assert_eq!(
        res.iter().map(|r| r.1).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    // Bit-identical training: the same loss at every iteration.
    for (b, r) in base.iter().zip(&res) {
        assert_eq!(b.2.to_bits(), r.2.to_bits(), "iteration {}", b.1);
        assert!(b.2.is_finite() && b.2 > 0.0 && b.2 < 10.0, "loss {}", b.2);
    }
    // The first loss is about ln(10) for 10 classes, and training lowers it.
    assert!((1.5..3.5).contains(&base[0].2), "first loss {}", base[0].2);
    // Without a mirror the run starts over after each kill: more work done.
    assert!(nm.len() > 30, "no-mirror executed {} iterations", nm.len());
    assert!(
        nm.windows(2).any(|w| w[1].1 < w[0].1),
        "no restart from scratch seen"
    );
    assert_eq!(nm.last().unwrap().1, 30);

    let (h, runs) = read_csv(&out.join("crash_test_runs.csv"));
    assert_eq!(
        h,
        [
            "variant",
            "run",
            "killed",
            "resumed_from",
            "last_iteration",
            "wall_s"
        ]
    );
    let kills = runs
        .iter()
        .filter(|r| r[0] == "resilient" && r[2] == "true")
        .count();
    assert_eq!(kills, 3, "{runs:?}");
    assert!(is_png(&out.join("crash_test.png")));
}

#[test]
fn crash_test_rejects_bad_settings() {
    let d = tempfile::tempdir().unwrap();
    let out = s(&d.path().join("out"));
    let e = err(&args(&[
        "crash-test",
        "--cfg",
        "/nonexistent/m.cfg",
        "--out",
        &out,
    ]));
    assert!(e.contains("/nonexistent/m.cfg: no such model cfg"), "{e}");
    let cfg = small_cfg(d.path());
    let e = err(&args(&[
        "crash-test",
        "--cfg",
        &s(&cfg),
        "--kills",
        "9",
        "--iterations",
        "5",
        "--out",
        &out,
        "--mnist",
        &mnist_arg(),
        "--limit",
        "100",
    ]));
    assert!(e.contains("9 kills need more"), "{e}");
}

/// Up→down transitions between consecutive ticks of `up` in `range`.
fn transitions(up: &[bool], range: std::ops::Range<usize>) -> usize {
    up[range].windows(2).filter(|w| w[0] && !w[1]).count()
}

fn summary(out: &Path) -> std::collections::HashMap<String, String> {
    let (h, rows) = read_csv(&out.join("spot_summary.csv"));
    assert_eq!(rows.len(), 1);
    h.into_iter().zip(rows[0].iter().cloned()).collect()
}

fn check_spot_outputs(out: &Path, up: &[bool], iterations: u64) {
    let sm = summary(out);
    assert_eq!(sm["finished"], "true", "{sm:?}");
    assert_eq!(sm["completed"], iterations.to_string());
    let start: usize = sm["start_tick"].parse().unwrap();
    let end: usize = sm["end_tick"].parse().unwrap();
    let interruptions: usize = sm["interruptions"].parse().unwrap();
    assert_eq!(interruptions, transitions(up, start..end), "{sm:?}");
    assert_eq!(sm["lost_iterations"], "0");
    let (h, rows) = read_csv(&out.join("spot.csv"));
    assert_eq!(h, ["trace_hours", "running", "iteration", "loss"]);
    let mut last_t = 0.0;
    let mut last_it = 0;
    for r in &rows {
        let t: f64 = r[0].parse().unwrap();
        let it: u64 = r[2].parse().unwrap();
        assert!(t >= last_t, "trace time goes back: {r:?}");
        // The model never goes back to an earlier iteration.
        assert!(it >= last_it, "iteration goes back: {r:?}");
        assert!(r[1] == "0" || r[1] == "1");
        if !r[3].is_empty() {
            let l: f64 = r[3].parse().unwrap();
            assert!(l.is_finite() && l > 0.0);
        }
        last_t = t;
        last_it = it;
    }
    assert_eq!(last_it, iterations);
    assert!(is_png(&out.join("spot.png")));
}

/// Runs `spot` with `flags`, on one thread and 2000 samples, then [`inputs`]
/// (`cfg`, `out`); asserts that stdout says `want` and checks the outputs
/// against the availability `up` for `iterations` ([`check_spot_outputs`]);
/// returns the summary.
fn run_spot(
    flags: &[&str],
    cfg: &Path,
    out: &Path,
    want: &str,
    up: &[bool],
    iterations: u64,
) -> std::collections::HashMap<String, String> {
    let settings = args(&["--threads", "1", "--limit", "2000"]);
    let stdout = ok(&[args(&["spot"]), args(flags), settings, inputs(cfg, out)].concat());
    assert!(stdout.contains(want), "{stdout}");
    check_spot_outputs(out, up, iterations);
    summary(out)
}

#[test]
fn spot_availability_trace_starting_down_with_a_long_outage() {
    let d = tempfile::tempdir().unwrap();
    let cfg = small_cfg(d.path());
    // Starts down with a long outage, then up windows of one tick each (too
    // short for any start to finish 100 iterations, however fast training
    // is), then up for good.
    let mut up: Vec<bool> = Vec::new();
    up.extend([false; 3002]);
    for _ in 0..3 {
        up.push(true);
        up.extend([false; 2]);
    }
    up.extend([true; 400]);
    let data: Vec<&str> = up.iter().map(|&u| if u { "1" } else { "0" }).collect();
    let trace = d.path().join("avail.json");
    std::fs::write(
        &trace,
        format!(
            "{{\"metadata\": {{\"gap_seconds\": 10}},\n\"data\": [{}]}}",
            data.join(", ")
        ),
    )
    .unwrap();
    let out = d.path().join("out");
    // 10 s ticks at 200x: 0.05 s per tick, so each short window is 0.05 s.
    let flags = [
        "--availability-trace",
        &s(&trace),
        "--iterations",
        "100",
        "--speedup",
        "200",
        "--skip-outages",
    ];
    let sm = run_spot(&flags, &cfg, &out, "completed iterations lost 0", &up, 100);
    // The long outage was replayed (trace time) but skipped on the wall clock.
    let hours: f64 = sm["trace_hours"].parse().unwrap();
    let wall: f64 = sm["wall_s"].parse().unwrap();
    assert!(hours > 3000.0 * 10.0 / 3600.0, "{sm:?}");
    assert!(wall < 60.0, "{sm:?}");
    assert!(sm["interruptions"].parse::<usize>().unwrap() >= 1, "{sm:?}");
    assert!(!sm["baseline_wall_s"].is_empty());
}

#[test]
fn spot_price_trace_with_other_tick_length() {
    let d = tempfile::tempdir().unwrap();
    let cfg = small_cfg(d.path());
    // 30 s ticks; the bid 0.1 runs the instance when the price is below it.
    let prices: Vec<f64> = [0.2, 0.05, 0.05, 0.05, 0.3, 0.09, 0.09, 0.09, 0.12]
        .into_iter()
        .chain(std::iter::repeat_n(0.08, 300))
        .collect();
    let mut text = String::from("price,index\n");
    for (i, p) in prices.iter().enumerate() {
        text.push_str(&format!("{p},{}\n", i + 1));
    }
    let trace = d.path().join("price.csv");
    std::fs::write(&trace, text).unwrap();
    let up: Vec<bool> = prices.iter().map(|&p| 0.1 > p).collect();
    let out = d.path().join("out");
    // 30 s ticks at 200x: 0.15 s per tick.
    let flags = [
        "--price-trace",
        &s(&trace),
        "--bid",
        "0.1",
        "--step",
        "30s",
        "--speedup",
        "200",
        "--iterations",
        "40",
        "--no-baseline",
    ];
    let sm = run_spot(&flags, &cfg, &out, "cost (price x running)", &up, 40);
    let cost: f64 = sm["cost"].parse().unwrap();
    let running: f64 = sm["running_hours"].parse().unwrap();
    // Every running tick costs between 0.05 and 0.09 per hour.
    assert!(
        cost > 0.05 * running * 0.99 && cost < 0.09 * running * 1.01,
        "{sm:?}"
    );
}

#[test]
fn spot_errors_name_the_trace() {
    let d = tempfile::tempdir().unwrap();
    let out = s(&d.path().join("out"));
    let bad = d.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"metadata\": {\"gap_seconds\": 10},\n\"data\": [1, 0,\n 7]}",
    )
    .unwrap();
    let e = err(&args(&[
        "spot",
        "--availability-trace",
        &s(&bad),
        "--out",
        &out,
    ]));
    assert!(e.contains("bad.json: line 3: data value 7"), "{e}");
    let badcsv = d.path().join("bad.csv");
    std::fs::write(&badcsv, "0.1,1\n0.2;2\n").unwrap();
    let e = err(&args(&[
        "spot",
        "--price-trace",
        &s(&badcsv),
        "--bid",
        "0.1",
        "--out",
        &out,
    ]));
    assert!(e.contains("bad.csv: line 2:"), "{e}");
    let e = err(&args(&[
        "spot",
        "--price-trace",
        &s(&badcsv),
        "--out",
        &out,
    ]));
    assert!(e.contains("--bid"), "{e}");
    let e = err(&args(&["spot", "--out", &out]));
    assert!(e.contains("--price-trace") || e.contains("required"), "{e}");
    // A trace that ends before the training does is reported as such.
    let short = d.path().join("short.json");
    std::fs::write(
        &short,
        "{\"metadata\": {\"gap_seconds\": 1}, \"data\": [1, 0, 1]}",
    )
    .unwrap();
    let cfg = small_cfg(d.path());
    let e = err(&[
        args(&[
            "spot",
            "--availability-trace",
            &s(&short),
            "--speedup",
            "10",
            "--iterations",
            "100000",
            "--no-baseline",
            "--limit",
            "200",
        ]),
        inputs(&cfg, Path::new(&out)),
    ]
    .concat());
    assert!(e.contains("the trace ended after"), "{e}");
}

#[test]
fn bench_mirror_measures_every_mode() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cfg/sweep/sweep-10mb.cfg");
    let stdout = ok(&[
        args(&["bench", "mirror", "--runs", "2", "--cfgs"]),
        vec![
            s(&cfg),
            "--mnist".into(),
            mnist_arg(),
            "--out".into(),
            s(&out),
        ],
    ]
    .concat());
    assert!(stdout.contains("speed-up over ssd"), "{stdout}");
    let (h, rows) = read_csv(&out.join("mirror.csv"));
    assert_eq!(
        h,
        [
            "model",
            "model_mb",
            "image_bytes",
            "mode",
            "seal_ms",
            "write_ms",
            "save_ms",
            "read_ms",
            "open_ms",
            "restore_ms"
        ]
    );
    let modes: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(modes, ["romulus", "ab", "ssd"]);
    for r in &rows {
        let f = |i: usize| r[i].parse::<f64>().unwrap();
        // The 10 MB sweep model: ~10.9 MB of parameters; the image adds
        // momentum and BN statistics (about twice the parameters).
        assert!((9.0..13.0).contains(&f(1)), "{r:?}");
        let image = f(2) / 1e6;
        assert!(image > 2.0 * f(1) * 0.95 && image < 3.0 * f(1), "{r:?}");
        // Sealing 20+ MB takes real time, but less than a second.
        assert!(f(4) > 0.5 && f(4) < 1000.0, "{r:?}");
        assert!(f(5) >= 0.0 && f(6) >= f(4) && f(6) < 5000.0, "{r:?}");
        // Opening authenticates and decrypts every byte.
        assert!(f(8) > 0.5 && f(9) >= f(8) && f(9) < 5000.0, "{r:?}");
    }
    // The ssd save writes and fsyncs a file; the PM modes do not.
    let ssd = &rows[2];
    assert!(ssd[5].parse::<f64>().unwrap() > 0.0);
    let (h, sp) = read_csv(&out.join("mirror_speedup.csv"));
    assert_eq!(
        h,
        ["model", "mode", "save_x", "write_x", "restore_x", "read_x"]
    );
    assert_eq!(sp.len(), 2);
    assert!(is_png(&out.join("mirror_save.png")));
    assert!(is_png(&out.join("mirror_restore.png")));
}

#[test]
fn bench_decrypt_compares_sealed_and_plain_batches() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let cfg = small_cfg(d.path());
    let stdout = ok(&[
        args(&[
            "bench",
            "decrypt",
            "--batches",
            "8,32",
            "--iterations",
            "4",
            "--samples",
            "500",
        ]),
        vec!["--cfg".into(), s(&cfg), "--mnist".into(), mnist_arg()],
        vec!["--out".into(), s(&out)],
    ]
    .concat());
    assert!(stdout.contains("mean overhead"), "{stdout}");
    let (h, rows) = read_csv(&out.join("decrypt.csv"));
    assert_eq!(
        h,
        [
            "batch",
            "plain_ms",
            "plain_copy_ms",
            "sealed_ms",
            "sealed_open_ms",
            "overhead",
            "plain_cpu_ms",
            "sealed_cpu_ms",
            "overhead_cpu",
            "overhead_from_parts"
        ]
    );
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["8", "32"]
    );
    for r in &rows {
        let f = |i: usize| r[i].parse::<f64>().unwrap();
        assert!(f(1) > 0.0 && f(3) > 0.0, "{r:?}");
        // Opening sealed records costs more than copying plain bytes.
        assert!(f(4) > f(2), "{r:?}");
        // Whole-iteration timings of a few ms are at the mercy of the
        // machine's load: only sanity here; the parts are checked below.
        assert!(f(5) > 0.05 && f(5) < 20.0, "{r:?}");
        assert!(
            f(6) > 0.0 && f(7) > 0.0 && f(8) > 0.05 && f(8) < 20.0,
            "{r:?}"
        );
        assert!(f(9) >= 1.0 && f(9) < 2.0, "{r:?}");
    }
    assert!(is_png(&out.join("decrypt.png")));
    let e = err(&args(&[
        "bench",
        "decrypt",
        "--batches",
        "0",
        "--out",
        &s(&out),
    ]));
    assert!(e.contains("--batches"), "{e}");
}
