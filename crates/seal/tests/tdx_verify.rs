//! TDX verification (feature `tdx`) with a sample TDX quote and its Intel
//! collateral (public test data, see tests/data/tdx/README.md).
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
#![cfg(feature = "tdx")]

use seal::evidence::tsm::TsmEvidence;
use seal::evidence::{Evidence, Measurement, Policy, ReportData, verify};

const QUOTE: &[u8] = include_bytes!("data/tdx/tdx_quote");
const COLLATERAL: &[u8] = include_bytes!("data/tdx/tdx_quote_collateral.json");

fn evidence(q: &[u8]) -> Evidence {
    Evidence::Tsm(TsmEvidence {
        provider: "tdx_guest".into(),
        generation: 1,
        outblob: q.to_vec(),
        auxblob: vec![],
    })
}

fn fields(q: &[u8]) -> (Measurement, ReportData) {
    (
        Measurement(q[48 + 136..48 + 184].try_into().unwrap()),
        q[48 + 520..48 + 584].try_into().unwrap(),
    )
}

/// A time inside the collateral's validity window: its TCB info issue date.
fn now() -> u64 {
    let v: serde_json::Value = serde_json::from_slice(COLLATERAL).unwrap();
    let tcb: serde_json::Value = serde_json::from_str(v["tcb_info"].as_str().unwrap()).unwrap();
    let issue = tcb["issueDate"].as_str().unwrap();
    // "YYYY-MM-DDThh:mm:ssZ" to Unix seconds (days from civil date).
    let (y, m, d) = (
        issue[0..4].parse::<i64>().unwrap(),
        issue[5..7].parse::<i64>().unwrap(),
        issue[8..10].parse::<i64>().unwrap(),
    );
    let (hh, mm, ss) = (
        issue[11..13].parse::<i64>().unwrap(),
        issue[14..16].parse::<i64>().unwrap(),
        issue[17..19].parse::<i64>().unwrap(),
    );
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    (days * 86400 + hh * 3600 + mm * 60 + ss + 3600) as u64
}

fn policy() -> Policy {
    Policy {
        tdx_collateral_json: Some(COLLATERAL.to_vec()),
        now_unix: Some(now()),
        ..Policy::default()
    }
}

#[test]
fn sample_quote_verifies() {
    let (m, rd) = fields(QUOTE);
    let v = verify(&evidence(QUOTE), &m, &rd, &policy()).unwrap();
    assert!(!v.simulated);
    assert_eq!(v.backend, "tsm:tdx_guest");
    assert_eq!(v.measurement, m);
}

#[test]
fn altered_quotes_and_missing_collateral_are_rejected() {
    let (m, rd) = fields(QUOTE);
    // Alter the report data (and expect the altered value): only the
    // signature can catch it.
    let mut bad = QUOTE.to_vec();
    bad[48 + 520] ^= 1;
    let (bm, brd) = fields(&bad);
    let e = verify(&evidence(&bad), &bm, &brd, &policy()).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    // Not the expected TD.
    let e = verify(&evidence(QUOTE), &Measurement([0; 48]), &rd, &policy()).unwrap_err();
    assert!(e.to_string().contains("measurement"), "{e}");
    // No collateral.
    let e = verify(&evidence(QUOTE), &m, &rd, &Policy::default()).unwrap_err();
    assert!(e.to_string().contains("collateral"), "{e}");
    // Collateral outside its validity window (far future).
    let late = Policy {
        now_unix: Some(4_000_000_000),
        ..policy()
    };
    assert!(verify(&evidence(QUOTE), &m, &rd, &late).is_err());
}
