//! `plinius bench sps` end to end (tiny settings) and the flush facts of `plinius info`.

use std::process::Command;

fn plinius() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plinius"))
}

#[test]
fn bench_sps_writes_table_csv_and_png() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("sps.csv");
    let png = d.path().join("sps.png");
    let pool = d.path().join("sps.pool");
    let out = plinius()
        .args([
            "bench",
            "sps",
            "--swaps",
            "1,4",
            "--seconds",
            "0.05",
            "--array-mib",
            "0.1",
        ])
        .args(["--flush", "none,eadr"])
        .arg("--pool")
        .arg(&pool)
        .arg("--csv")
        .arg(&csv)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("none") && stdout.contains("eadr"),
        "{stdout}"
    );
    assert!(stderr.contains("still a permutation"), "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flush,swaps_per_tx,swaps_per_us"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert!(r[0] == "none" || r[0] == "eadr");
        assert!(r[1] == "1" || r[1] == "4");
        assert!(r[2].parse::<f64>().unwrap() > 0.0);
    }
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    assert!(!pool.exists(), "the benchmark removes its pool");
}

#[test]
fn bench_sps_rejects_bad_options_clearly() {
    let d = tempfile::tempdir().unwrap();
    let existing = d.path().join("mine.dat");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = plinius()
        .args(["bench", "sps", "--seconds", "0.01", "--pool"])
        .arg(&existing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mine.dat"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let out = plinius()
        .args(["bench", "sps", "--flush", "clwbx"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flush strategy"));
}

#[test]
fn info_shows_flush_instructions_and_the_shm_strategy() {
    let out = plinius()
        .arg("info")
        .env_remove("PLINIUS_FLUSH")
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(s.contains("clwb") && s.contains("clflushopt"), "{s}");
    assert!(s.contains("PM flush for a pool in /dev/shm:"), "{s}");
    let out = plinius()
        .arg("info")
        .env("PLINIUS_FLUSH", "msync")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("msync (from PLINIUS_FLUSH)"));
}
