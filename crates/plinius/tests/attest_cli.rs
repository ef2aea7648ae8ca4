//! `owner provision` with hardware evidence: a real SEV-SNP report (public
//! test data of the `seal` crate, see crates/seal/tests/data/snp/README.md)
//! wrapped in an evidence file. Its report data was not made for our key and
//! nonce, so provisioning must still refuse it; what these tests check is
//! how far verification gets with the VCEK the owner passes: with the chip's
//! certificate (DER or PEM) the signature chain verifies and the report data
//! is what fails; without it, or with another chip's, the signature step
//! fails. With `--features tdx`, the same for a sample TDX quote and its
//! Intel collateral. The attestation policy options (`--snp-min-tcb`,
//! `--verify-at`, `--snp-crl`, `--tdx-rtmr`) refuse the sample evidence
//! when it violates them, before its report data is looked at.

mod common;

use base64::Engine;
use common::Env;
use seal::evidence::Evidence;
use seal::evidence::tsm::TsmEvidence;
use seal::provision::AttestedKey;
use std::path::PathBuf;

fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../seal/tests/data")
        .join(name)
}

fn snp_data(name: &str) -> PathBuf {
    test_data("snp").join(name)
}

/// The Milan report, as configfs-tsm evidence, and its measurement.
fn snp_evidence() -> (TsmEvidence, String) {
    let hex_report = std::fs::read_to_string(snp_data("report_milan.hex")).unwrap();
    let report = hex::decode(hex_report.trim()).unwrap();
    let measurement = hex::encode(&report[0x90..0xC0]);
    let ev = TsmEvidence {
        provider: "sev_guest".into(),
        generation: 1,
        outblob: report,
        auxblob: Vec::new(),
    };
    (ev, measurement)
}

/// Writes `evidence.bin` (the Milan report) and `owner.key`; returns the
/// provision arguments up to the verification options.
fn setup(e: &Env) -> Vec<String> {
    let (ev, measurement) = snp_evidence();
    setup_with(e, ev, &measurement)
}

/// Writes `evidence.bin` holding `ev` and `owner.key`; returns the
/// provision arguments expecting `measurement`.
fn setup_with(e: &Env, ev: TsmEvidence, measurement: &str) -> Vec<String> {
    let attested = AttestedKey {
        public_key: [7; 32],
        evidence: Evidence::Tsm(ev),
    };
    std::fs::write(e.path("evidence.bin"), attested.to_bytes()).unwrap();
    e.keygen("owner.key");
    e.provision_args("evidence.bin", &"ab".repeat(32), measurement, "keys.bundle")
}

/// Runs the provision arguments `base` with `extra`, which must fail
/// cleanly; returns stderr.
fn fails_with(e: &Env, base: &[String], extra: &[&str]) -> String {
    let mut a = base.to_vec();
    a.extend(extra.iter().map(ToString::to_string));
    e.fail(&a)
}

#[test]
fn provision_verifies_snp_evidence_with_the_owners_vcek() {
    let e = Env::new();
    let base = setup(&e);
    let with = |extra: &[&str]| fails_with(&e, &base, extra);
    // No certificate in the report's auxblob and none given.
    let err = with(&[]);
    assert!(err.contains("no VCEK certificate"), "{err}");
    // The chip's VCEK, DER: the signature verifies; the report data (made for
    // another key and nonce) is what is refused.
    let vcek = snp_data("vcek_milan.der");
    let err = with(&["--snp-vcek", vcek.to_str().unwrap()]);
    assert!(err.contains("report data"), "{err}");
    assert!(!err.contains("VCEK"), "{err}");
    // The same certificate as PEM.
    let der = std::fs::read(&vcek).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    std::fs::write(e.path("vcek.pem"), pem).unwrap();
    let err = with(&["--snp-vcek", &e.p("vcek.pem")]);
    assert!(err.contains("report data"), "{err}");
    // Another chip's VCEK: the signature does not verify.
    let turin = snp_data("vcek_turin.der");
    let err = with(&["--snp-vcek", turin.to_str().unwrap()]);
    assert!(err.contains("SEV-SNP report"), "{err}");
    assert!(!err.contains("report data"), "{err}");
    // Not a certificate at all, or a missing file: named.
    std::fs::write(e.path("junk.der"), b"not a certificate").unwrap();
    let err = with(&["--snp-vcek", &e.p("junk.der")]);
    assert!(
        err.contains("junk.der") && err.contains("not a certificate"),
        "{err}"
    );
    let err = with(&["--snp-vcek", &e.p("missing.der")]);
    assert!(
        err.contains("missing.der") && err.contains("cannot read"),
        "{err}"
    );
    // Nothing was written.
    assert!(!e.path("keys.bundle").exists());
}

#[cfg(not(feature = "tdx"))]
#[test]
fn tdx_collateral_needs_a_tdx_build() {
    let e = Env::new();
    let mut a = setup(&e);
    std::fs::write(e.path("collateral.json"), b"{}").unwrap();
    a.extend(["--tdx-collateral".to_string(), e.p("collateral.json")]);
    let err = e.fail(&a);
    assert!(err.contains("--features tdx"), "{err}");
}

#[cfg(feature = "tdx")]
#[test]
fn provision_verifies_tdx_evidence_with_the_owners_collateral() {
    let e = Env::new();
    let quote = std::fs::read(test_data("tdx/tdx_quote")).unwrap();
    let measurement = hex::encode(&quote[48 + 136..48 + 184]);
    let ev = TsmEvidence {
        provider: "tdx_guest".into(),
        generation: 1,
        outblob: quote,
        auxblob: Vec::new(),
    };
    let base = setup_with(&e, ev, &measurement);
    let with = |extra: &[&str]| fails_with(&e, &base, extra);
    let err = with(&[]);
    assert!(err.contains("collateral"), "{err}");
    // Within the collateral's validity (an hour after its TCB info was
    // issued, 2025-06-19T10:16:03Z) the quote verifies; the report data,
    // made for another key and nonce, is what is refused.
    let collateral = test_data("tdx/tdx_quote_collateral.json");
    let c = collateral.to_str().unwrap();
    let err = with(&["--tdx-collateral", c, "--verify-at", "1750331763"]);
    assert!(err.contains("report data"), "{err}");
    // Long after it expired, the collateral is refused.
    let err = with(&["--tdx-collateral", c, "--verify-at", "1900000000"]);
    assert!(!err.contains("report data"), "{err}");
}

/// Serves one fake SEV-SNP report through a fake configfs-tsm entry
/// `root/name` (FIFOs for `inblob` and `outblob`, as in hostio's tsm_fake
/// tests): the report data written to `inblob` at 0x50, `measurement` at 0x90.
fn fake_tsm_entry(
    root: &std::path::Path,
    name: &str,
    measurement: [u8; 48],
) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for fifo in ["inblob", "outblob"] {
        let st = std::process::Command::new("mkfifo")
            .arg(dir.join(fifo))
            .status()
            .expect("mkfifo runs");
        assert!(st.success(), "mkfifo {fifo}");
    }
    std::fs::write(dir.join("generation"), "1\n").unwrap();
    std::fs::write(dir.join("provider"), "sev_guest\n").unwrap();
    std::thread::spawn(move || {
        let mut inblob = Vec::new();
        std::fs::File::open(dir.join("inblob"))
            .unwrap()
            .read_to_end(&mut inblob)
            .unwrap();
        let mut report = vec![0u8; 1184];
        report[0] = 2;
        report[0x50..0x90].copy_from_slice(&inblob);
        report[0x90..0xC0].copy_from_slice(&measurement);
        std::fs::write(dir.join("generation"), "2\n").unwrap();
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("outblob"))
            .unwrap();
        out.write_all(&report).unwrap();
    })
}

#[test]
fn provision_refuses_tsm_evidence_without_the_measurement_in_its_report_data() {
    use hostio::tsm::TsmProvider;
    use seal::evidence::{
        EvidenceProvider, Measurement, report_data, report_data_without_measurement,
    };
    let e = Env::new();
    let measurement = Measurement::of(b"guest image");
    let public_key = [7u8; 32];
    let nonce = [0xABu8; 32];
    // Evidence from the (fake) configfs-tsm over report data binding the
    // enclave key and nonce only, as any process in the guest could obtain.
    let root = e.path("tsm/report");
    let kernel = fake_tsm_entry(&root, "report0", measurement.0);
    let provider = TsmProvider {
        root: root.clone(),
        entry: Some("report0".into()),
    };
    let unbound = report_data_without_measurement(&public_key, &nonce);
    let Evidence::Tsm(ev) = provider.evidence(&unbound).unwrap() else {
        panic!("tsm evidence")
    };
    kernel.join().unwrap();
    let base = setup_with(&e, ev, &measurement.to_hex());
    let err = fails_with(&e, &base, &[]);
    assert!(err.contains("not the enclave measurement"), "{err}");
    assert!(err.contains("tsm:sev_guest"), "{err}");
    assert!(!e.path("keys.bundle").exists());
    // The same fake report over the report data that binds the enclave's
    // build measurement gets past this check and is refused as unsigned
    // instead.
    let build = Measurement::from_hex(e.ok(&["enclave", "measurement"]).trim()).unwrap();
    let kernel = fake_tsm_entry(&root, "report1", measurement.0);
    let provider = TsmProvider {
        root,
        entry: Some("report1".into()),
    };
    let bound = report_data(&public_key, &nonce, &build);
    let Evidence::Tsm(ev) = provider.evidence(&bound).unwrap() else {
        panic!("tsm evidence")
    };
    kernel.join().unwrap();
    let attested = AttestedKey {
        public_key,
        evidence: Evidence::Tsm(ev),
    };
    std::fs::write(e.path("evidence.bin"), attested.to_bytes()).unwrap();
    let err = fails_with(&e, &base, &[]);
    assert!(!err.contains("not the enclave measurement"), "{err}");
    assert!(err.contains("SEV-SNP report"), "{err}");
}

/// PEM text of `der` under `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[test]
fn provision_refuses_snp_evidence_outside_the_owners_policy() {
    let e = Env::new();
    let mut base = setup(&e);
    let vcek = snp_data("vcek_milan.der");
    base.extend(["--snp-vcek".to_string(), vcek.to_str().unwrap().to_string()]);
    let with = |extra: &[&str]| fails_with(&e, &base, extra);
    // The sample's TCB as the minimum passes (the report data is what fails);
    // a minimum above it is refused.
    let err = with(&["--snp-min-tcb", "bootloader=3,tee=0,snp=8,microcode=115"]);
    assert!(err.contains("report data"), "{err}");
    let err = with(&["--snp-min-tcb", "snp=9"]);
    assert!(
        err.contains("snp=8 is below the required minimum snp=9"),
        "{err}"
    );
    let err = with(&["--snp-min-tcb", "fmc=1"]);
    assert!(
        err.contains("--snp-min-tcb") && err.contains("fmc"),
        "{err}"
    );
    // Inside the VCEK's validity (2023-04-03 to 2030-04-03), then after it.
    let err = with(&["--verify-at", "1735689600"]);
    assert!(err.contains("report data"), "{err}");
    let err = with(&["--verify-at", "1930000000"]);
    assert!(err.contains("VCEK certificate is valid from"), "{err}");
    // A CRL that is not one, and one not signed by AMD (DER and PEM).
    std::fs::write(e.path("junk.crl"), b"not a revocation list").unwrap();
    let err = with(&["--snp-crl", &e.p("junk.crl")]);
    assert!(
        err.contains("junk.crl") && err.contains("not a CRL"),
        "{err}"
    );
    let crl = snp_data("crl_not_amd.der");
    let err = with(&["--snp-crl", crl.to_str().unwrap()]);
    assert!(err.contains("not by the VCEK's AMD root"), "{err}");
    let der = std::fs::read(&crl).unwrap();
    std::fs::write(e.path("crl.pem"), pem("X509 CRL", &der)).unwrap();
    let err = with(&["--snp-crl", &e.p("crl.pem")]);
    assert!(err.contains("not by the VCEK's AMD root"), "{err}");
    assert!(!e.path("keys.bundle").exists());
}

#[cfg(feature = "tdx")]
#[test]
fn provision_refuses_tdx_evidence_outside_the_owners_policy() {
    let e = Env::new();
    let quote = std::fs::read(test_data("tdx/tdx_quote")).unwrap();
    let measurement = hex::encode(&quote[48 + 136..48 + 184]);
    let rtmr = |i: usize| hex::encode(&quote[48 + 328 + 48 * i..48 + 376 + 48 * i]);
    let rtmrs: Vec<String> = (0..4).map(|i| format!("{i}={}", rtmr(i))).collect();
    let ev = TsmEvidence {
        provider: "tdx_guest".into(),
        generation: 1,
        outblob: quote.clone(),
        auxblob: Vec::new(),
    };
    let mut base = setup_with(&e, ev, &measurement);
    let collateral = test_data("tdx/tdx_quote_collateral.json");
    base.extend(
        [
            "--tdx-collateral",
            collateral.to_str().unwrap(),
            "--verify-at",
            "1750331763",
        ]
        .map(String::from),
    );
    let with = |extra: &[&str]| fails_with(&e, &base, extra);
    // The TD's own RTMRs pass (the report data is what fails).
    let mut all = Vec::new();
    for r in &rtmrs {
        all.extend(["--tdx-rtmr", r.as_str()]);
    }
    let err = with(&all);
    assert!(err.contains("report data"), "{err}");
    // An RTMR that differs is refused and named.
    let zeros = format!("2={}", "00".repeat(48));
    let err = with(&["--tdx-rtmr", &rtmrs[0], "--tdx-rtmr", &zeros]);
    assert!(err.contains("RTMR2 is"), "{err}");
    // Malformed values are named.
    let err = with(&["--tdx-rtmr", &format!("4={}", rtmr(0))]);
    assert!(
        err.contains("--tdx-rtmr") && err.contains("0, 1, 2 or 3"),
        "{err}"
    );
    let err = with(&["--tdx-rtmr", "1=abcd"]);
    assert!(err.contains("2 bytes"), "{err}");
    // The sample platform is up to date: allowing SWHardeningNeeded changes
    // nothing.
    let err = with(&["--allow-sw-hardening-needed"]);
    assert!(err.contains("report data"), "{err}");
    assert!(!e.path("keys.bundle").exists());
}
