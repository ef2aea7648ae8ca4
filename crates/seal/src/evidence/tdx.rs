//! Verification of TDX quotes (configfs-tsm provider `tdx_guest`) with the
//! `dcap-qvl` crate, offline.
//!
//! The quote's signature chain is checked up to Intel's SGX root CA built into
//! `dcap-qvl`, against collateral the verifier supplies (PCK CRL, TCB info and
//! QE identity, as served by Intel's provisioning certification service or a
//! caching service; fetching it needs the network, which is the owner's job).
//! Debug TDs are refused, and the platform's TCB status must be `UpToDate` or
//! `SWHardeningNeeded`.

use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::quote::Report;

use crate::error::{Result, SealError};

/// TCB statuses accepted.
pub const ACCEPTED_STATUS: [&str; 2] = ["UpToDate", "SWHardeningNeeded"];

/// Verifies `quote` with `collateral_json` at time `now_unix` (seconds);
/// returns the TD's MRTD and report data from the verified quote.
pub fn verify_tdx(
    quote: &[u8],
    collateral_json: &[u8],
    now_unix: u64,
) -> Result<([u8; 48], [u8; 64])> {
    let bad = |m: String| SealError::Evidence(format!("TDX quote: {m}"));
    let collateral: QuoteCollateralV3 = serde_json::from_slice(collateral_json)
        .map_err(|e| bad(format!("collateral is not valid JSON collateral: {e}")))?;
    let verified = dcap_qvl::verify::verify(quote, &collateral, now_unix)
        .map_err(|e| bad(format!("does not verify: {e}")))?;
    if !ACCEPTED_STATUS.contains(&verified.status.as_str()) {
        return Err(bad(format!(
            "platform TCB status {} is not acceptable (accepted: {})",
            verified.status,
            ACCEPTED_STATUS.join(", ")
        )));
    }
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
    Ok((td.mr_td, td.report_data))
}
