//! Verification of TDX quotes (configfs-tsm provider `tdx_guest`) with the
//! `dcap-qvl` crate, offline.
//!
//! The quote's signature chain is checked up to Intel's SGX root CA built into
//! `dcap-qvl`, against collateral the verifier supplies (PCK CRL, TCB info and
//! QE identity, as served by Intel's provisioning certification service or a
//! caching service; fetching it needs the network, which is the owner's job).
//! Debug TDs are refused. The platform's TCB status must be `UpToDate`, or
//! `SWHardeningNeeded` when the verifier accepts it explicitly (its advisory
//! ids are returned). The runtime measurement registers must equal the ones
//! the verifier expects, if any.

use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::quote::Report;

use super::MEASUREMENT_LEN;
use crate::error::{Result, SealError};

/// The TCB status accepted without conditions.
pub const UP_TO_DATE: &str = "UpToDate";
/// The TCB status accepted only when the verifier allows it: the platform
/// is patched, but software must mitigate the advisories listed.
pub const SW_HARDENING_NEEDED: &str = "SWHardeningNeeded";
/// Number of runtime measurement registers of a TD.
pub const RTMR_COUNT: usize = 4;

/// What a TDX quote must meet beyond a valid signature chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct TdxChecks<'a> {
    /// RTMRs the TD must report, as (index 0 to 3, value).
    pub rtmrs: &'a [(usize, [u8; MEASUREMENT_LEN])],
    /// Accept the TCB status `SWHardeningNeeded`.
    pub allow_sw_hardening_needed: bool,
}

/// The fields of a verified TD quote the caller checks further.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTd {
    /// The TD's measurement (MRTD).
    pub mr_td: [u8; MEASUREMENT_LEN],
    /// The TD's report data.
    pub report_data: [u8; 64],
    /// Intel advisory ids of an accepted `SWHardeningNeeded` status.
    pub advisories: Vec<String>,
}

/// Verifies `quote` with `collateral_json` at time `now_unix` (seconds) and
/// the policy in `checks`; returns the TD's MRTD, report data and accepted
/// advisories from the verified quote.
pub fn verify_tdx(
    quote: &[u8],
    collateral_json: &[u8],
    now_unix: u64,
    checks: &TdxChecks<'_>,
) -> Result<VerifiedTd> {
    let collateral: QuoteCollateralV3 = serde_json::from_slice(collateral_json)
        .map_err(|e| bad(format!("collateral is not valid JSON collateral: {e}")))?;
    let verified = dcap_qvl::verify::verify(quote, &collateral, now_unix)
        .map_err(|e| bad(format!("does not verify: {e}")))?;
    let advisories = check_status(
        &verified.status,
        &verified.advisory_ids,
        checks.allow_sw_hardening_needed,
    )?;
    let td = match &verified.report {
        Report::TD10(td) => td,
        Report::TD15(td) => &td.base,
        Report::TD15Ex(td) => &td.base.base,
        Report::SgxEnclave(_) => return Err(bad("an SGX enclave quote, not a TD quote".into())),
    };
    if td.td_attributes[0] & 1 != 0 {
        return Err(bad(
            "the TD is a debug TD; its memory is not confidential".into()
        ));
    }
    let actual = [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3];
    check_rtmrs(&actual, checks.rtmrs)?;
    Ok(VerifiedTd {
        mr_td: td.mr_td,
        report_data: td.report_data,
        advisories,
    })
}

fn bad(m: String) -> SealError {
    SealError::Evidence(format!("TDX quote: {m}"))
}

/// Accepts `UpToDate`, and `SWHardeningNeeded` only if `allow_sw_hardening`
/// (returning its advisory ids); refuses every other status.
pub fn check_status(
    status: &str,
    advisory_ids: &[String],
    allow_sw_hardening: bool,
) -> Result<Vec<String>> {
    let ids = if advisory_ids.is_empty() {
        "none listed".to_string()
    } else {
        advisory_ids.join(", ")
    };
    match status {
        UP_TO_DATE => Ok(Vec::new()),
        SW_HARDENING_NEEDED if allow_sw_hardening => Ok(advisory_ids.to_vec()),
        SW_HARDENING_NEEDED => Err(bad(format!(
            "platform TCB status {SW_HARDENING_NEEDED} (advisories: {ids}): the TD must \
             mitigate these in software; accept it only after checking them \
             (--allow-sw-hardening-needed)"
        ))),
        other => Err(bad(format!(
            "platform TCB status {other} is not acceptable (advisories: {ids}; accepted: \
             {UP_TO_DATE}, or {SW_HARDENING_NEEDED} when allowed)"
        ))),
    }
}

/// Every expected RTMR must equal the TD's (`expected` holds indexes 0 to 3).
pub fn check_rtmrs(
    actual: &[[u8; MEASUREMENT_LEN]; RTMR_COUNT],
    expected: &[(usize, [u8; MEASUREMENT_LEN])],
) -> Result<()> {
    use aws_lc_rs::constant_time::verify_slices_are_equal;
    for (index, value) in expected {
        let got = actual.get(*index).ok_or_else(|| {
            bad(format!(
                "RTMR index {index} does not exist (a TD has RTMR 0 to {})",
                RTMR_COUNT - 1
            ))
        })?;
        if verify_slices_are_equal(got, value).is_err() {
            return Err(bad(format!(
                "RTMR{index} is {}, not the expected {}",
                hex::encode(got),
                hex::encode(value)
            )));
        }
    }
    Ok(())
}
