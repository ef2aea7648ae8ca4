//! The configfs-tsm provider against a fake configfs tree made here: FIFOs for
//! `inblob` and `outblob` give the same blocking hand-off as the kernel (the
//! report is produced when `outblob` is read after `inblob` was written), and
//! a thread plays the kernel's part.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

use hostio::tsm::TsmProvider;
use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, EvidenceProvider, Measurement, Policy, report_data, verify};

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().expect("mkfifo runs");
    assert!(st.success(), "mkfifo {}", p.display());
}

/// Makes `root/name` like the kernel would and serves one report: a fake
/// SEV-SNP report (1184 bytes) with the report data at 0x50 and `measurement`
/// at 0x90. `generation_step` is how much the kernel's counter advances (1
/// normally; 2 simulates another writer racing on the entry).
fn fake_entry(
    root: &Path,
    name: &str,
    measurement: Measurement,
    generation_step: u64,
) -> JoinHandle<()> {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    mkfifo(&dir.join("inblob"));
    mkfifo(&dir.join("outblob"));
    fs::write(dir.join("generation"), "7\n").unwrap();
    fs::write(dir.join("provider"), "sev_guest\n").unwrap();
    std::thread::spawn(move || {
        let mut inblob = Vec::new();
        fs::File::open(dir.join("inblob"))
            .unwrap()
            .read_to_end(&mut inblob)
            .unwrap();
        assert_eq!(inblob.len(), 64, "report data is 64 bytes");
        let mut report = vec![0u8; 1184];
        report[0] = 2; // report version
        report[0x50..0x90].copy_from_slice(&inblob);
        report[0x90..0xC0].copy_from_slice(&measurement.0);
        fs::write(dir.join("generation"), format!("{}\n", 7 + generation_step)).unwrap();
        let mut out = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("outblob"))
            .unwrap();
        out.write_all(&report).unwrap();
    })
}

fn root() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("tsm/report");
    fs::create_dir_all(&r).unwrap();
    (d, r)
}

#[test]
fn report_round_trip_through_fake_configfs() {
    let (_d, root) = root();
    let m = Measurement::of(b"guest image");
    let kernel = fake_entry(&root, "report0", m, 1);
    let provider = TsmProvider {
        root: root.clone(),
        entry: Some("report0".into()),
    };
    let rd = report_data(&[3u8; 32], b"nonce", &m);
    let ev = provider.evidence(&rd).unwrap();
    kernel.join().unwrap();
    let Evidence::Tsm(t) = &ev else {
        panic!("tsm evidence")
    };
    assert_eq!(t.provider, "sev_guest");
    assert_eq!(t.generation, 8);
    let (fm, frd) = t.fields().unwrap();
    assert_eq!(fm, m.0);
    assert_eq!(frd, rd);
    // Serialisation round trip.
    assert_eq!(Evidence::from_bytes(&ev.to_bytes()).unwrap(), ev);
    assert_eq!(TsmEvidence::from_bytes(&t.to_bytes()).unwrap(), *t);
    // The (fake) report has no valid signature: it is refused as such, with
    // the expected fields or not (field mismatches of genuine reports are
    // tested with a real one in snp_verify.rs).
    for (want_m, want_rd) in [
        (Measurement::of(b"other"), rd),
        (m, report_data(&[4u8; 32], b"nonce", &m)),
    ] {
        let e = verify(&ev, &want_m, &want_rd, &Policy::default()).unwrap_err();
        assert!(e.to_string().contains("SEV-SNP report"), "{e}");
    }
    let e = verify(&ev, &m, &rd, &Policy::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("evidence rejected"), "{msg}");
    assert!(
        msg.contains("SEV-SNP") || msg.contains("sev_guest"),
        "{msg}"
    );
}

#[test]
fn racing_writer_is_detected() {
    let (_d, root) = root();
    let kernel = fake_entry(&root, "shared", Measurement::of(b"x"), 2);
    let provider = TsmProvider {
        root: root.clone(),
        entry: Some("shared".into()),
    };
    let e = provider.evidence(&[0u8; 64]).unwrap_err();
    kernel.join().unwrap();
    assert!(e.to_string().contains("another process"), "{e}");
}

#[test]
fn missing_or_foreign_trees_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let provider = TsmProvider {
        root: d.path().join("no/such/tsm"),
        entry: None,
    };
    let e = provider.evidence(&[0u8; 64]).unwrap_err();
    assert!(
        e.to_string().contains("no configfs-tsm report directory"),
        "{e}"
    );
    // An ordinary directory: the private entry is created, has no attributes,
    // the error names the attribute, and the entry is removed again.
    let (_d2, root) = root();
    let provider = TsmProvider {
        root: root.clone(),
        entry: None,
    };
    let e = provider.evidence(&[0u8; 64]).unwrap_err();
    assert!(e.to_string().contains("generation"), "{e}");
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "entry left behind");
}
