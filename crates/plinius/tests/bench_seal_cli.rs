//! `plinius bench seal` runs every case, prints the table and writes the CSV.

use std::process::Command;

#[test]
fn bench_seal_writes_table_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("seal.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_plinius"))
        .args(["bench", "seal", "--seconds", "0.05", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for row in ["4 KiB", "1 MiB", "64 MiB", "chunked-nt"] {
        assert!(stdout.contains(row), "{row} missing from\n{stdout}");
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("api,size_bytes,seal_gbps_median,seal_gbps_best,open_gbps_median,open_gbps_best")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let seal: f64 = r[2].parse().unwrap();
        assert!(seal > 0.0 && seal.is_finite(), "{r:?}");
    }
    assert_eq!(rows[0][..2], ["record", "4096"]);
}
