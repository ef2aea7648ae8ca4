//! The configfs-tsm back-end: the Linux interface through which TDX and
//! SEV-SNP guests obtain attestation reports
//! (`/sys/kernel/config/tsm/report`, kernel ABI `configfs-tsm`).
//!
//! Producing a report (on the host: `hostio::tsm::TsmProvider`): create an entry directory under the root, write the 64
//! bytes of report data to `inblob`, read `outblob` (the report or quote),
//! `provider` (`sev_guest`, `tdx_guest`, …) and `generation` (how many times
//! the entry was written: a value other than one more than before means
//! another process raced on the entry), optionally `auxblob` (certificates).
//!
//! Verification of the signed reports is platform-specific: see
//! [`TsmVerifier`].

use super::{
    Evidence, EvidenceVerifier, MEASUREMENT_LEN, Measurement, REPORT_DATA_LEN, ReportData,
    Verified, check_fields,
};
use crate::error::{Result, SealError};

/// A configfs-tsm report as read from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsmEvidence {
    /// The `provider` attribute (`sev_guest`, `tdx_guest`, …).
    pub provider: String,
    /// The `generation` attribute after the report was produced.
    pub generation: u64,
    /// The report (SEV-SNP) or quote (TDX).
    pub outblob: Vec<u8>,
    /// Auxiliary data (SEV-SNP certificate table), empty if none.
    pub auxblob: Vec<u8>,
}

impl TsmEvidence {
    /// Serialises: provider length u16 ‖ provider ‖ generation u64 ‖
    /// outblob length u32 ‖ outblob ‖ auxblob length u32 ‖ auxblob.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = wire::Writer::new();
        w.u16(self.provider.len() as u16);
        w.bytes(self.provider.as_bytes());
        w.u64(self.generation);
        w.u32(self.outblob.len() as u32);
        w.bytes(&self.outblob);
        w.u32(self.auxblob.len() as u32);
        w.bytes(&self.auxblob);
        w.into_vec()
    }

    /// Parses [`TsmEvidence::to_bytes`] output.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = wire::Reader::new(b, "tsm evidence");
        let plen = r.u16("provider length")? as usize;
        let provider = r.str(plen, "provider")?.to_string();
        let generation = r.u64("generation")?;
        let olen = r.u32("outblob length")? as usize;
        let outblob = r.take(olen, "outblob")?.to_vec();
        let alen = r.u32("auxblob length")? as usize;
        let auxblob = r.take(alen, "auxblob")?.to_vec();
        r.finish()?;
        Ok(TsmEvidence {
            provider,
            generation,
            outblob,
            auxblob,
        })
    }

    /// The measurement and report data fields of the report, located by
    /// provider: SEV-SNP `ATTESTATION_REPORT` (report data at 0x50, measurement
    /// at 0x90) or TDX quote v4 (TD report body after the 48-byte header:
    /// MRTD at +136, report data at +520). These are *unverified* fields.
    pub fn fields(&self) -> Result<(&[u8], &[u8])> {
        let (m_off, rd_off) = match self.provider.as_str() {
            "sev_guest" => (0x90, 0x50),
            "tdx_guest" => (48 + 136, 48 + 520),
            p => {
                return Err(SealError::Evidence(format!(
                    "unknown configfs-tsm provider {p:?}"
                )));
            }
        };
        let need = (m_off + MEASUREMENT_LEN).max(rd_off + REPORT_DATA_LEN);
        if self.outblob.len() < need {
            return Err(SealError::Evidence(format!(
                "{} report is {} bytes, too short (need at least {need})",
                self.provider,
                self.outblob.len()
            )));
        }
        Ok((
            &self.outblob[m_off..m_off + MEASUREMENT_LEN],
            &self.outblob[rd_off..rd_off + REPORT_DATA_LEN],
        ))
    }
}

/// Verifies configfs-tsm evidence.
///
/// It checks the report's measurement and report data fields, then requires
/// the platform's signature chain to verify:
/// - `sev_guest`: with the `snp` feature (default), the report's signature
///   chain up to AMD's root (see [`super::snp`]); the VCEK comes from
///   `snp_vek_der` or the evidence's auxblob.
/// - `tdx_guest`: with the `tdx` feature (not default), the quote's chain up
///   to Intel's root against the verifier's collateral (see `evidence::tdx`).
/// - otherwise this build has no verifier for the report, so the evidence is
///   rejected with an error saying so: an unverified report proves nothing.
#[derive(Clone, Debug, Default)]
pub struct TsmVerifier {
    /// The chip's VCEK/VLEK certificate (DER) for SEV-SNP reports.
    pub snp_vek_der: Option<Vec<u8>>,
    /// Intel collateral (JSON) for TDX quotes (feature `tdx`).
    pub tdx_collateral_json: Option<Vec<u8>>,
    /// Verification time, seconds since the Unix epoch (default: now).
    pub now_unix: Option<u64>,
    /// SEV-SNP: the lowest `reported_tcb` accepted.
    pub snp_min_tcb: Option<super::SnpTcb>,
    /// SEV-SNP: AMD's CRL (DER).
    pub snp_crl_der: Option<Vec<u8>>,
    /// TDX: the RTMRs (index, value) the TD must report.
    pub tdx_rtmrs: Vec<(usize, [u8; MEASUREMENT_LEN])>,
    /// TDX: accept the TCB status `SWHardeningNeeded`.
    pub tdx_allow_sw_hardening_needed: bool,
}

impl EvidenceVerifier for TsmVerifier {
    fn verify(
        &self,
        evidence: &Evidence,
        expected_measurement: &Measurement,
        expected_report_data: &ReportData,
    ) -> Result<Verified> {
        let Evidence::Tsm(ev) = evidence else {
            return Err(SealError::Evidence(format!(
                "expected configfs-tsm evidence, got {}",
                evidence.backend()
            )));
        };
        // Genuine first, then whether it is the expected one: a forged report
        // is reported as forged, a genuine one for another key or nonce as
        // stale.
        #[cfg(any(feature = "snp", feature = "tdx"))]
        let now = self.now_unix.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        #[cfg(feature = "snp")]
        if ev.provider == "sev_guest" {
            let checks = super::snp::SnpChecks {
                vek_der: self.snp_vek_der.as_deref(),
                min_tcb: self.snp_min_tcb,
                crl_der: self.snp_crl_der.as_deref(),
                now_unix: now,
            };
            super::snp::verify_snp(&ev.outblob, &ev.auxblob, &checks)?;
            let (m, rd) = ev.fields()?;
            check_fields(m, expected_measurement, rd, expected_report_data)?;
            return Ok(Verified {
                backend: evidence.backend(),
                measurement: *expected_measurement,
                simulated: false,
                advisories: Vec::new(),
            });
        }
        #[cfg(feature = "tdx")]
        if ev.provider == "tdx_guest" {
            let collateral = self.tdx_collateral_json.as_deref().ok_or_else(|| {
                SealError::Evidence(
                    "TDX quote: verification needs Intel collateral (PCK CRL, TCB info, QE \
                     identity) for the platform; none was supplied"
                        .into(),
                )
            })?;
            let checks = super::tdx::TdxChecks {
                rtmrs: &self.tdx_rtmrs,
                allow_sw_hardening_needed: self.tdx_allow_sw_hardening_needed,
            };
            let td = super::tdx::verify_tdx(&ev.outblob, collateral, now, &checks)?;
            check_fields(
                &td.mr_td,
                expected_measurement,
                &td.report_data,
                expected_report_data,
            )?;
            return Ok(Verified {
                backend: evidence.backend(),
                measurement: *expected_measurement,
                simulated: false,
                advisories: td.advisories,
            });
        }
        Err(SealError::Evidence(format!(
            "this build cannot verify {} report signatures (no verification back-end \
             for it compiled in); refusing unverified evidence",
            ev.provider
        )))
    }
}
