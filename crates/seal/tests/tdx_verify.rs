//! TDX verification (feature `tdx`) with a sample TDX quote and its Intel
//! collateral (public test data, see tests/data/tdx/README.md), and the
//! attestation policy: expected RTMRs, and the TCB status SWHardeningNeeded
//! accepted only when allowed.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
#![cfg(feature = "tdx")]

use seal::evidence::tdx::{SW_HARDENING_NEEDED, check_status};
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

/// The quote's RTMRs (TD report body after the 48-byte header, from +328).
fn rtmrs(q: &[u8]) -> Vec<(usize, [u8; 48])> {
    (0..4)
        .map(|i| {
            let off = 48 + 328 + 48 * i;
            (i, q[off..off + 48].try_into().unwrap())
        })
        .collect()
}

#[test]
fn expected_rtmrs_must_match() {
    let (m, rd) = fields(QUOTE);
    let all = Policy {
        tdx_rtmrs: rtmrs(QUOTE),
        ..policy()
    };
    verify(&evidence(QUOTE), &m, &rd, &all).unwrap();
    for i in 0..4 {
        let mut expected = rtmrs(QUOTE);
        expected[i].1[0] ^= 1;
        let p = Policy {
            tdx_rtmrs: expected,
            ..policy()
        };
        let e = verify(&evidence(QUOTE), &m, &rd, &p).unwrap_err();
        assert!(
            e.to_string().contains(&format!("RTMR{i} is")),
            "RTMR{i}: {e}"
        );
    }
    let p = Policy {
        tdx_rtmrs: vec![(4, [0; 48])],
        ..policy()
    };
    let e = verify(&evidence(QUOTE), &m, &rd, &p).unwrap_err();
    assert!(e.to_string().contains("index 4"), "{e}");
}

#[test]
fn sw_hardening_needed_is_accepted_only_when_allowed() {
    let ids = vec!["INTEL-SA-00615".to_string(), "INTEL-SA-00657".to_string()];
    // The sample platform is up to date: nothing to accept, nothing listed.
    let (m, rd) = fields(QUOTE);
    let v = verify(&evidence(QUOTE), &m, &rd, &policy()).unwrap();
    assert!(v.advisories.is_empty());
    assert_eq!(
        check_status("UpToDate", &[], false).unwrap(),
        Vec::<String>::new()
    );
    let e = check_status(SW_HARDENING_NEEDED, &ids, false).unwrap_err();
    assert!(
        e.to_string().contains("INTEL-SA-00615, INTEL-SA-00657")
            && e.to_string().contains("--allow-sw-hardening-needed"),
        "{e}"
    );
    assert_eq!(check_status(SW_HARDENING_NEEDED, &ids, true).unwrap(), ids);
    for status in ["OutOfDate", "ConfigurationNeeded", "Revoked"] {
        let e = check_status(status, &ids, true).unwrap_err();
        assert!(e.to_string().contains(status), "{e}");
    }
}
