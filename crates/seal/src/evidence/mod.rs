//! Attestation evidence: the seam between an enclave that proves what it runs
//! and a verifier (the data owner) that decides whether to trust it.
//!
//! The enclave asks its platform for evidence over 64 bytes of *report data*
//! ([`report_data`]: a hash binding its ephemeral X25519 public key, the
//! verifier's nonce and the enclave's measurement). The verifier checks, with [`verify`], that the evidence
//! is genuine for the back-end, that it reports the expected [`Measurement`],
//! and that its report data is the one it expects for the key and its own
//! fresh nonce (so old evidence cannot be replayed).
//!
//! Back-ends:
//! - [`sim`]: a simulated platform whose Ed25519 key signs the evidence. It is
//!   **insecure** (the key is a file on the same machine) and is accepted only
//!   when the [`Policy`] allows simulated evidence and pins the platform key.
//! - [`tsm`]: Linux configfs-tsm reports (TDX and SEV-SNP guests). Reports are
//!   produced here; SEV-SNP reports are verified with the `sev` crate
//!   (feature `snp`, default); see [`verify`].

pub mod sim;
#[cfg(feature = "snp")]
pub mod snp;
#[cfg(feature = "tdx")]
pub mod tdx;
pub mod tsm;

use aws_lc_rs::digest;

use crate::error::{Result, SealError};

/// Bytes of a measurement (SHA-384 sized, like SEV-SNP's and TDX's).
pub const MEASUREMENT_LEN: usize = 48;
/// Bytes of report data.
pub const REPORT_DATA_LEN: usize = 64;
/// Report data: 64 bytes bound into the evidence.
pub type ReportData = [u8; REPORT_DATA_LEN];

/// What the enclave is: a hash of its code, as measured by the platform.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measurement(pub [u8; MEASUREMENT_LEN]);

impl Measurement {
    /// SHA-384 of `bytes` (for example of the enclave's code).
    pub fn of(bytes: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA384, bytes);
        Measurement(d.as_ref().try_into().expect("SHA-384 is 48 bytes"))
    }

    /// Parses 96 hex digits.
    pub fn from_hex(s: &str) -> Result<Self> {
        let v = hex::decode(s.trim())
            .map_err(|e| SealError::format("measurement", format!("not hex: {e}")))?;
        let arr: [u8; MEASUREMENT_LEN] = v.as_slice().try_into().map_err(|_| {
            SealError::format(
                "measurement",
                format!(
                    "{} bytes, expected {MEASUREMENT_LEN} (96 hex digits)",
                    v.len()
                ),
            )
        })?;
        Ok(Measurement(arr))
    }

    /// 96 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Measurement({})", self.to_hex())
    }
}

/// Domain tag of [`report_data`] (v2: the measurement is bound too).
pub const REPORT_DATA_DOMAIN: &[u8] = b"plinius/report-data/v2";

/// Domain tag of [`report_data_without_measurement`], the binding of earlier
/// builds.
pub const REPORT_DATA_DOMAIN_V1: &[u8] = b"plinius/report-data/v1";

fn key_and_nonce(ctx: &mut digest::Context, enclave_public_key: &[u8], nonce: &[u8]) {
    ctx.update(&(enclave_public_key.len() as u16).to_le_bytes());
    ctx.update(enclave_public_key);
    ctx.update(&(nonce.len() as u16).to_le_bytes());
    ctx.update(nonce);
}

fn finish(ctx: digest::Context) -> ReportData {
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-512 is 64 bytes")
}

/// The report data that binds an enclave's ephemeral public key, the
/// verifier's nonce and the enclave's own measurement (the build identity of
/// its trusted code): SHA-512(domain ‖ len(key) u16 ‖ key ‖ len(nonce) u16 ‖
/// nonce ‖ measurement). On platforms whose launch measurement covers a whole
/// guest image (configfs-tsm: TDX, SEV-SNP), this is what ties the evidence
/// to this enclave build rather than to any process in the guest. Every
/// back-end uses it, the simulated one included.
pub fn report_data(
    enclave_public_key: &[u8],
    nonce: &[u8],
    measurement: &Measurement,
) -> ReportData {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(REPORT_DATA_DOMAIN);
    key_and_nonce(&mut ctx, enclave_public_key, nonce);
    ctx.update(&measurement.0);
    finish(ctx)
}

/// The report data of earlier builds, which bound the key and nonce only:
/// SHA-512(v1 domain ‖ len(key) u16 ‖ key ‖ len(nonce) u16 ‖ nonce). The
/// owner's provisioning recognises it to refuse such evidence with a clear
/// error; nothing produces it any more.
pub fn report_data_without_measurement(enclave_public_key: &[u8], nonce: &[u8]) -> ReportData {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(REPORT_DATA_DOMAIN_V1);
    key_and_nonce(&mut ctx, enclave_public_key, nonce);
    finish(ctx)
}

/// Evidence from one of the back-ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Simulated platform evidence (insecure; development and CI).
    Sim(sim::SimEvidence),
    /// A configfs-tsm report (TDX or SEV-SNP guest).
    Tsm(tsm::TsmEvidence),
}

/// Format version of serialised evidence.
pub const EVIDENCE_VERSION: u16 = 1;
/// The header of serialised evidence.
const EVIDENCE_HEADER: wire::Header = wire::Header {
    magic: b"PLEVIDNC",
    width: wire::VersionWidth::U16,
    version: EVIDENCE_VERSION as u32,
    min_len: 16,
    foreign: "not Plinius evidence (bad magic)",
    label: "format version",
};
const KIND_SIM: u16 = 1;
const KIND_TSM: u16 = 2;

impl Evidence {
    /// The report data the evidence *claims* (unverified): the simulated
    /// evidence's field, or the configfs-tsm report's field (`None` when the
    /// report is too short or of an unknown provider).
    pub fn claimed_report_data(&self) -> Option<ReportData> {
        match self {
            Evidence::Sim(s) => Some(s.report_data),
            Evidence::Tsm(t) => t.fields().ok().and_then(|(_, rd)| rd.try_into().ok()),
        }
    }

    /// The back-end's name: `sim` or `tsm:<provider>`.
    pub fn backend(&self) -> String {
        match self {
            Evidence::Sim(_) => "sim".into(),
            Evidence::Tsm(t) => format!("tsm:{}", t.provider),
        }
    }

    /// Serialises: `"PLEVIDNC" ‖ version u16 ‖ kind u16 ‖ body length u32 ‖ body`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (kind, body) = match self {
            Evidence::Sim(s) => (KIND_SIM, s.to_bytes()),
            Evidence::Tsm(t) => (KIND_TSM, t.to_bytes()),
        };
        let mut w = wire::Writer::with_capacity(16 + body.len());
        EVIDENCE_HEADER.write(&mut w);
        w.u16(kind);
        w.u32(body.len() as u32);
        w.bytes(&body);
        w.into_vec()
    }

    /// Parses [`Evidence::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "evidence";
        let mut r = EVIDENCE_HEADER.check(bytes, what)?;
        let kind = r.u16("kind")?;
        let len = r.u32("body length")? as usize;
        let body = r.rest();
        if body.len() != len {
            return Err(SealError::format(
                what,
                format!(
                    "body is {} bytes, header says {len} (truncated?)",
                    body.len()
                ),
            ));
        }
        match kind {
            KIND_SIM => Ok(Evidence::Sim(sim::SimEvidence::from_bytes(body)?)),
            KIND_TSM => Ok(Evidence::Tsm(tsm::TsmEvidence::from_bytes(body)?)),
            k => Err(SealError::format(
                what,
                format!("unknown evidence kind {k}"),
            )),
        }
    }
}

/// Produces evidence for report data. Implemented by each back-end.
pub trait EvidenceProvider {
    /// Evidence over `report_data`, from this platform.
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence>;
}

/// What the verifier accepts.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Accept simulated (insecure) evidence.
    pub allow_sim: bool,
    /// The simulated platform's Ed25519 public key that signed evidence must
    /// match (required for sim evidence).
    pub sim_platform_key: Option<[u8; 32]>,
    /// The VCEK/VLEK certificate (DER) of the SEV-SNP chip, when the report
    /// does not carry it in its auxblob.
    pub snp_vek_der: Option<Vec<u8>>,
    /// Intel collateral (JSON) for TDX quotes (feature `tdx`).
    pub tdx_collateral_json: Option<Vec<u8>>,
    /// Verification time for certificate and collateral validity, seconds
    /// since the Unix epoch (default: now).
    pub now_unix: Option<u64>,
    /// SEV-SNP: the lowest TCB accepted; a report whose `reported_tcb` has a
    /// component below it is refused (default: any TCB the VCEK certifies).
    pub snp_min_tcb: Option<SnpTcb>,
    /// SEV-SNP: AMD's certificate revocation list (DER) for the chip's
    /// family; the VCEK and ASK must not be on it.
    pub snp_crl_der: Option<Vec<u8>>,
    /// TDX: runtime measurement registers the TD must report, as (index 0 to
    /// 3, value); empty: RTMRs are not checked.
    pub tdx_rtmrs: Vec<(usize, [u8; MEASUREMENT_LEN])>,
    /// TDX: accept the platform TCB status `SWHardeningNeeded` (the advisory
    /// ids are returned in [`Verified::advisories`]).
    pub tdx_allow_sw_hardening_needed: bool,
}

/// An SEV-SNP TCB: the security version numbers of the platform's
/// components, as in a report's `reported_tcb` and a VCEK's extensions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpTcb {
    /// SVN of the PSP bootloader.
    pub bootloader: u8,
    /// SVN of the PSP operating system.
    pub tee: u8,
    /// SVN of the SNP firmware.
    pub snp: u8,
    /// Lowest microcode patch level of all cores.
    pub microcode: u8,
}

impl SnpTcb {
    /// The components with their names, in a fixed order.
    pub fn components(&self) -> [(&'static str, u8); 4] {
        [
            ("bootloader", self.bootloader),
            ("tee", self.tee),
            ("snp", self.snp),
            ("microcode", self.microcode),
        ]
    }

    /// Parses `bootloader=N,tee=N,snp=N,microcode=N` (decimal; a component
    /// left out is 0, so it constrains nothing as a minimum).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |m: String| SealError::format("SEV-SNP TCB", m);
        let mut tcb = SnpTcb::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not NAME=NUMBER")))?;
            let v: u8 = value.trim().parse().map_err(|_| {
                bad(format!(
                    "{name}={value}: the value must be a number from 0 to 255"
                ))
            })?;
            match name.trim() {
                "bootloader" => tcb.bootloader = v,
                "tee" => tcb.tee = v,
                "snp" => tcb.snp = v,
                "microcode" => tcb.microcode = v,
                n => {
                    return Err(bad(format!(
                        "unknown component {n:?} (expected bootloader, tee, snp or microcode)"
                    )));
                }
            }
        }
        Ok(tcb)
    }
}

impl std::fmt::Display for SnpTcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .components()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Evidence that passed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `sim` or `tsm:<provider>`.
    pub backend: String,
    /// The measurement it reports (equal to the expected one).
    pub measurement: Measurement,
    /// Whether it came from the simulated (insecure) platform.
    pub simulated: bool,
    /// Security advisories the platform is exposed to and the policy
    /// accepted (TDX `SWHardeningNeeded`: Intel advisory ids); empty if none.
    pub advisories: Vec<String>,
}

/// Verifies evidence of one kind. One implementation per back-end.
pub trait EvidenceVerifier {
    /// Checks that `evidence` is genuine, reports `expected_measurement` and
    /// carries `expected_report_data`.
    fn verify(
        &self,
        evidence: &Evidence,
        expected_measurement: &Measurement,
        expected_report_data: &ReportData,
    ) -> Result<Verified>;
}

/// Verifies `evidence` under `policy`: the back-end's signature, the
/// measurement and the report data. Simulated evidence is refused unless
/// `policy.allow_sim` is set and the platform key is pinned. configfs-tsm
/// evidence goes to [`tsm::TsmVerifier`]: SEV-SNP reports are verified up to
/// AMD's root (feature `snp`, default), TDX quotes up to Intel's root with
/// the policy's collateral (feature `tdx`); a report no compiled-in verifier
/// can check is refused: report fields alone prove nothing.
pub fn verify(
    evidence: &Evidence,
    expected_measurement: &Measurement,
    expected_report_data: &ReportData,
    policy: &Policy,
) -> Result<Verified> {
    match evidence {
        Evidence::Sim(_) => {
            if !policy.allow_sim {
                return Err(SealError::Evidence(
                    "the evidence comes from the SIMULATED platform, which proves nothing about \
                     the hardware; it is accepted only when simulated evidence is explicitly allowed"
                        .into(),
                ));
            }
            let key = policy.sim_platform_key.ok_or_else(|| {
                SealError::Evidence(
                    "simulated evidence needs the simulated platform's public key to be pinned"
                        .into(),
                )
            })?;
            sim::SimVerifier { platform_key: key }.verify(
                evidence,
                expected_measurement,
                expected_report_data,
            )
        }
        Evidence::Tsm(_) => tsm::TsmVerifier {
            snp_vek_der: policy.snp_vek_der.clone(),
            tdx_collateral_json: policy.tdx_collateral_json.clone(),
            now_unix: policy.now_unix,
            snp_min_tcb: policy.snp_min_tcb,
            snp_crl_der: policy.snp_crl_der.clone(),
            tdx_rtmrs: policy.tdx_rtmrs.clone(),
            tdx_allow_sw_hardening_needed: policy.tdx_allow_sw_hardening_needed,
        }
        .verify(evidence, expected_measurement, expected_report_data),
    }
}

/// Compares in constant time and returns a clear error on mismatch.
pub(crate) fn check_fields(
    measurement: &[u8],
    expected_measurement: &Measurement,
    report: &[u8],
    expected_report_data: &ReportData,
) -> Result<()> {
    use aws_lc_rs::constant_time::verify_slices_are_equal;
    if verify_slices_are_equal(measurement, &expected_measurement.0).is_err() {
        return Err(SealError::Evidence(format!(
            "measurement {} is not the expected {}",
            hex::encode(measurement),
            expected_measurement
        )));
    }
    if verify_slices_are_equal(report, expected_report_data).is_err() {
        return Err(SealError::Evidence(
            "report data does not bind this enclave key, nonce and measurement (stale or \
             replayed evidence, evidence for another key, or not made by this enclave build)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_binds_key_nonce_and_measurement() {
        let m = Measurement::of(b"enclave");
        let a = report_data(&[1; 32], b"nonce-1", &m);
        assert_eq!(a, report_data(&[1; 32], b"nonce-1", &m));
        assert_ne!(a, report_data(&[2; 32], b"nonce-1", &m));
        assert_ne!(a, report_data(&[1; 32], b"nonce-2", &m));
        assert_ne!(
            a,
            report_data(&[1; 32], b"nonce-1", &Measurement::of(b"other"))
        );
        assert_ne!(a, report_data_without_measurement(&[1; 32], b"nonce-1"));
        // Length prefixes: moving bytes between key and nonce changes the result.
        assert_ne!(
            report_data(&[1, 2], &[3], &m),
            report_data(&[1], &[2, 3], &m)
        );
        assert_ne!(
            report_data_without_measurement(&[1, 2], &[3]),
            report_data_without_measurement(&[1], &[2, 3])
        );
    }

    #[test]
    fn snp_tcb_parses_and_prints() {
        let t = SnpTcb::parse("bootloader=3, tee=0,snp=8,microcode=115").unwrap();
        assert_eq!(
            t,
            SnpTcb {
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115
            }
        );
        assert_eq!(t.to_string(), "bootloader=3,tee=0,snp=8,microcode=115");
        assert_eq!(SnpTcb::parse("snp=9").unwrap().snp, 9);
        for bad in ["snp", "snp=256", "snp=x", "fmc=1"] {
            assert!(SnpTcb::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn measurement_is_sha384() {
        assert_eq!(
            Measurement::of(b"abc").to_hex(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
    }

    #[test]
    fn measurement_hex() {
        let m = Measurement::of(b"code");
        assert_eq!(Measurement::from_hex(&m.to_hex()).unwrap(), m);
        assert!(Measurement::from_hex("abcd").is_err());
        assert!(Measurement::from_hex("zz").is_err());
    }
}
