//! The simulated evidence back-end: an Ed25519 platform key (held in
//! [`crate::platform::SimPlatformKeys`], on disk in the host's platform directory)
//! signs the measurement and report data.
//!
//! **Insecure by design**: anyone who can read the platform key file can forge
//! evidence. It exists so the whole provisioning flow runs in development and
//! CI; the evidence says it is simulated and [`super::verify`] refuses it
//! unless told otherwise.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{
    Evidence, EvidenceProvider, EvidenceVerifier, MEASUREMENT_LEN, Measurement, REPORT_DATA_LEN,
    ReportData, Verified, check_fields,
};
use crate::error::{Result, SealError};

/// Domain tag of the signed message.
pub const SIM_SIGNATURE_DOMAIN: &[u8] = b"plinius/sim-evidence/v1 INSECURE SIMULATED PLATFORM";

/// Bytes of serialised sim evidence.
pub const SIM_EVIDENCE_LEN: usize = MEASUREMENT_LEN + REPORT_DATA_LEN + 32 + 64;

/// Evidence signed by the simulated platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEvidence {
    /// The measured enclave.
    pub measurement: Measurement,
    /// The report data it was asked to bind.
    pub report_data: ReportData,
    /// The simulated platform's public key.
    pub platform_key: [u8; 32],
    /// Ed25519 signature over domain ‖ measurement ‖ report data.
    pub signature: [u8; 64],
}

fn signed_message(measurement: &Measurement, report_data: &ReportData) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIM_SIGNATURE_DOMAIN.len() + MEASUREMENT_LEN + REPORT_DATA_LEN);
    m.extend_from_slice(SIM_SIGNATURE_DOMAIN);
    m.extend_from_slice(&measurement.0);
    m.extend_from_slice(report_data);
    m
}

impl SimEvidence {
    /// Serialises: measurement ‖ report data ‖ platform key ‖ signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SIM_EVIDENCE_LEN);
        v.extend_from_slice(&self.measurement.0);
        v.extend_from_slice(&self.report_data);
        v.extend_from_slice(&self.platform_key);
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses [`SimEvidence::to_bytes`] output.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() != SIM_EVIDENCE_LEN {
            return Err(SealError::format(
                "sim evidence",
                format!("{} bytes, expected {SIM_EVIDENCE_LEN}", b.len()),
            ));
        }
        let m = MEASUREMENT_LEN;
        let r = m + REPORT_DATA_LEN;
        Ok(SimEvidence {
            measurement: Measurement(b[..m].try_into().expect("48")),
            report_data: b[m..r].try_into().expect("64"),
            platform_key: b[r..r + 32].try_into().expect("32"),
            signature: b[r + 32..].try_into().expect("64"),
        })
    }
}

/// Produces sim evidence for one enclave measurement.
pub struct SimProvider<'a> {
    pub(crate) signing: &'a SigningKey,
    pub(crate) measurement: Measurement,
}

impl SimProvider<'_> {
    /// The measurement this provider reports.
    pub fn measurement(&self) -> Measurement {
        self.measurement
    }
}

impl EvidenceProvider for SimProvider<'_> {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence> {
        let sig = self
            .signing
            .sign(&signed_message(&self.measurement, report_data));
        Ok(Evidence::Sim(SimEvidence {
            measurement: self.measurement,
            report_data: *report_data,
            platform_key: self.signing.verifying_key().to_bytes(),
            signature: sig.to_bytes(),
        }))
    }
}

/// Verifies sim evidence against a pinned platform public key.
pub struct SimVerifier {
    /// The simulated platform key the verifier trusts.
    pub platform_key: [u8; 32],
}

impl EvidenceVerifier for SimVerifier {
    fn verify(
        &self,
        evidence: &Evidence,
        expected_measurement: &Measurement,
        expected_report_data: &ReportData,
    ) -> Result<Verified> {
        let Evidence::Sim(ev) = evidence else {
            return Err(SealError::Evidence(format!(
                "expected simulated evidence, got {}",
                evidence.backend()
            )));
        };
        if ev.platform_key != self.platform_key {
            return Err(SealError::Evidence(format!(
                "signed by simulated platform key {}, not the pinned {}",
                hex::encode(ev.platform_key),
                hex::encode(self.platform_key)
            )));
        }
        let vk = VerifyingKey::from_bytes(&self.platform_key).map_err(|_| {
            SealError::Evidence(
                "the pinned simulated platform key is not a valid Ed25519 key".into(),
            )
        })?;
        let sig = Signature::from_bytes(&ev.signature);
        vk.verify_strict(&signed_message(&ev.measurement, &ev.report_data), &sig)
            .map_err(|_| SealError::Evidence("bad simulated platform signature".into()))?;
        check_fields(
            &ev.measurement.0,
            expected_measurement,
            &ev.report_data,
            expected_report_data,
        )?;
        Ok(Verified {
            backend: "sim".into(),
            measurement: ev.measurement,
            simulated: true,
            advisories: Vec::new(),
        })
    }
}
