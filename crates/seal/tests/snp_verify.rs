//! SEV-SNP verification of configfs-tsm evidence with a real report from an
//! AMD Milan machine and its VCEK certificate (public test data, see
//! tests/data/snp/README.md): accepted when genuine, rejected when any byte
//! of the signed report changes, when the VCEK is another chip's or missing,
//! or when the fields are not the expected ones; and the attestation policy:
//! each refusal (TCB newer than the VCEK's or below the minimum, VMPL other
//! than 0, debug or migration agent allowed, certificates outside their
//! validity, a CRL not signed by AMD or listing the VCEK) has a test.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
#![cfg(feature = "snp")]

use seal::evidence::snp::{check_guest, compare_tcb, revoked_among, vcek_tcb};
use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, Measurement, Policy, ReportData, SnpTcb, verify};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use x509_cert::der::Decode;

const REPORT_HEX: &str = include_str!("data/snp/report_milan.hex");
const VCEK_MILAN: &[u8] = include_bytes!("data/snp/vcek_milan.der");
const VCEK_TURIN: &[u8] = include_bytes!("data/snp/vcek_turin.der");
const CRL_NOT_AMD: &[u8] = include_bytes!("data/snp/crl_not_amd.der");
/// The sample report's `reported_tcb`, which its VCEK certifies.
const SAMPLE_TCB: SnpTcb = SnpTcb {
    bootloader: 3,
    tee: 0,
    snp: 8,
    microcode: 115,
};
/// Inside every certificate's validity (2025-01-01).
const IN_VALIDITY: u64 = 1_735_689_600;

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

/// Verifies the sample report with the Milan VCEK under `policy`.
fn verify_sample(policy: Policy) -> seal::Result<seal::evidence::Verified> {
    let r = report();
    let (m, rd) = expected(&r);
    let policy = Policy {
        snp_vek_der: Some(VCEK_MILAN.to_vec()),
        ..policy
    };
    verify(&evidence(r, vec![]), &m, &rd, &policy)
}

#[test]
fn the_vceks_tcb_extensions_are_read_and_bound_the_reported_tcb() {
    let vcek = x509_cert::Certificate::from_der(VCEK_MILAN).unwrap();
    assert_eq!(vcek_tcb(&vcek).unwrap(), SAMPLE_TCB);
    compare_tcb(&SAMPLE_TCB, &SAMPLE_TCB, Some(SAMPLE_TCB)).unwrap();
    // A report claiming a newer component than its VCEK certifies.
    let newer = SnpTcb {
        microcode: 116,
        ..SAMPLE_TCB
    };
    let e = compare_tcb(&newer, &SAMPLE_TCB, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("microcode=116 is newer than the TCB its VCEK"),
        "{e}"
    );
}

#[test]
fn a_minimum_tcb_above_the_reports_is_refused() {
    verify_sample(Policy {
        snp_min_tcb: Some(SAMPLE_TCB),
        ..Policy::default()
    })
    .unwrap();
    for min in ["snp=9", "bootloader=4", "tee=1", "microcode=116"] {
        let e = verify_sample(Policy {
            snp_min_tcb: Some(SnpTcb::parse(min).unwrap()),
            ..Policy::default()
        })
        .unwrap_err();
        let name = min.split('=').next().unwrap();
        assert!(
            e.to_string().contains("below the required minimum") && e.to_string().contains(name),
            "{min}: {e}"
        );
    }
}

#[test]
fn vmpl_debug_and_migration_agent_are_refused() {
    let genuine = AttestationReport::from_bytes(&report()).unwrap();
    check_guest(&genuine).unwrap();
    let mut r = genuine;
    r.vmpl = 1;
    let e = check_guest(&r).unwrap_err();
    assert!(e.to_string().contains("VMPL 1"), "{e}");
    let mut r = genuine;
    r.policy.set_migrate_ma_allowed(true);
    let e = check_guest(&r).unwrap_err();
    assert!(e.to_string().contains("MIGRATE_MA"), "{e}");
    let mut r = genuine;
    r.policy.set_debug_allowed(true);
    let e = check_guest(&r).unwrap_err();
    assert!(e.to_string().contains("debugging"), "{e}");
}

#[test]
fn certificates_outside_their_validity_are_refused() {
    verify_sample(Policy {
        now_unix: Some(IN_VALIDITY),
        ..Policy::default()
    })
    .unwrap();
    // The VCEK is valid from 2023-04-03 to 2030-04-03.
    for at in [1_650_000_000, 1_930_000_000] {
        let e = verify_sample(Policy {
            now_unix: Some(at),
            ..Policy::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("VCEK certificate is valid from")
                && e.to_string().contains(&at.to_string()),
            "{at}: {e}"
        );
    }
}

#[test]
fn a_crl_not_signed_by_amd_or_listing_the_vcek_is_refused() {
    let e = verify_sample(Policy {
        snp_crl_der: Some(b"not a CRL".to_vec()),
        ..Policy::default()
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("not a DER certificate revocation list"),
        "{e}"
    );
    let e = verify_sample(Policy {
        snp_crl_der: Some(CRL_NOT_AMD.to_vec()),
        ..Policy::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("not by the VCEK's AMD root"), "{e}");
    // The revocation lookup itself: the list names serial 0, the VCEK's.
    let crl = x509_cert::crl::CertificateList::from_der(CRL_NOT_AMD).unwrap();
    let vcek = x509_cert::Certificate::from_der(VCEK_MILAN).unwrap();
    let ask = x509_cert::Certificate::from(sev::certs::snp::builtin::milan::ask().unwrap());
    let e = revoked_among(&crl, &[("VCEK", &vcek)]).unwrap_err();
    assert!(e.to_string().contains("VCEK certificate (serial"), "{e}");
    assert!(e.to_string().contains("revoked"), "{e}");
    // AMD's Milan ASK has another serial: not listed.
    revoked_among(&crl, &[("ASK", &ask)]).unwrap();
}
