//! SEV-SNP verification of configfs-tsm evidence with a real report from an
//! AMD Milan machine and its VCEK certificate (public test data, see
//! tests/data/snp/README.md): accepted when genuine, rejected when any byte
//! of the signed report changes, when the VCEK is another chip's or missing,
//! or when the fields are not the expected ones.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
#![cfg(feature = "snp")]

use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, Measurement, Policy, ReportData, verify};

const REPORT_HEX: &str = include_str!("data/snp/report_milan.hex");
const VCEK_MILAN: &[u8] = include_bytes!("data/snp/vcek_milan.der");
const VCEK_TURIN: &[u8] = include_bytes!("data/snp/vcek_turin.der");

fn report() -> Vec<u8> {
    hex::decode(REPORT_HEX.trim()).unwrap()
}

fn evidence(outblob: Vec<u8>, auxblob: Vec<u8>) -> Evidence {
    Evidence::Tsm(TsmEvidence {
        provider: "sev_guest".into(),
        generation: 1,
        outblob,
        auxblob,
    })
}

fn expected(r: &[u8]) -> (Measurement, ReportData) {
    (
        Measurement(r[0x90..0xC0].try_into().unwrap()),
        r[0x50..0x90].try_into().unwrap(),
    )
}

fn policy(vek: Option<&[u8]>) -> Policy {
    Policy {
        snp_vek_der: vek.map(<[u8]>::to_vec),
        ..Policy::default()
    }
}

/// An SEV-SNP certificate table holding `vcek` (GUID 63da758d-…-accd).
fn cert_table(vcek: &[u8]) -> Vec<u8> {
    let guid: [u8; 16] = [
        0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ];
    let mut t = Vec::new();
    t.extend_from_slice(&guid);
    t.extend_from_slice(&48u32.to_le_bytes());
    t.extend_from_slice(&(vcek.len() as u32).to_le_bytes());
    t.extend_from_slice(&[0u8; 24]);
    t.extend_from_slice(vcek);
    t
}

#[test]
fn genuine_report_verifies() {
    let r = report();
    let (m, rd) = expected(&r);
    let v = verify(
        &evidence(r.clone(), vec![]),
        &m,
        &rd,
        &policy(Some(VCEK_MILAN)),
    )
    .unwrap();
    assert!(!v.simulated);
    assert_eq!(v.backend, "tsm:sev_guest");
    // The VCEK can also come from the report's certificate table.
    verify(&evidence(r, cert_table(VCEK_MILAN)), &m, &rd, &policy(None)).unwrap();
}

#[test]
fn altered_reports_and_wrong_certificates_are_rejected() {
    let r = report();
    let (m, rd) = expected(&r);
    // Every byte of the signed part (0..0x2a0), one bit each; the expected
    // fields follow the altered report so only the signature can catch it.
    for i in (0..0x2a0).step_by(7) {
        let mut bad = r.clone();
        bad[i] ^= 0x08;
        let (bm, brd) = expected(&bad);
        let e = verify(&evidence(bad, vec![]), &bm, &brd, &policy(Some(VCEK_MILAN)));
        assert!(e.is_err(), "byte {i} altered but accepted");
    }
    // Signature bytes.
    let mut bad = r.clone();
    bad[0x2a0 + 10] ^= 1;
    assert!(verify(&evidence(bad, vec![]), &m, &rd, &policy(Some(VCEK_MILAN))).is_err());
    // Another chip's VCEK.
    let e = verify(
        &evidence(r.clone(), vec![]),
        &m,
        &rd,
        &policy(Some(VCEK_TURIN)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("SEV-SNP"), "{e}");
    // No VCEK at all.
    let e = verify(&evidence(r.clone(), vec![]), &m, &rd, &policy(None)).unwrap_err();
    assert!(e.to_string().contains("no VCEK"), "{e}");
    // A genuine report, but not the expected enclave or not our nonce.
    let e = verify(
        &evidence(r.clone(), vec![]),
        &Measurement([0; 48]),
        &rd,
        &policy(Some(VCEK_MILAN)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("measurement"), "{e}");
    let e = verify(
        &evidence(r, vec![]),
        &m,
        &[0u8; 64],
        &policy(Some(VCEK_MILAN)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("report data"), "{e}");
}
