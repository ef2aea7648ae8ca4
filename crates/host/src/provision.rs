//! The owner's side of key provisioning (`plinius owner provision` and
//! `owner nonce`): verify an enclave's evidence for the owner's nonce, then
//! seal the owner's key bundle to the enclave's attested public key (HPKE).
//! The enclave's side is in [`crate::enclave_side`].

use std::path::{Path, PathBuf};

use hostio::fs::write_public_file;
use hostio::keyfile::read_key_file;
use hostio::platform::{read_public_key, resolve_sim_dir};
use seal::evidence::{Evidence, MEASUREMENT_LEN, Measurement, Policy, SnpTcb};
use seal::platform::parse_public_key;
use seal::provision::{AttestedKey, provision_build as seal_provision};

use crate::error::{Context, Result, bail};

/// What `owner provision` needs.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// The enclave's evidence file.
    pub evidence: PathBuf,
    /// The nonce the owner gave the enclave, hex.
    pub nonce: String,
    /// The enclave measurement the owner trusts, hex (96 digits).
    pub expect_measurement: String,
    /// The enclave build measurement (what `plinius enclave measurement`
    /// prints for the enclave's build) that the evidence's report data must
    /// bind, hex; default: `expect_measurement` for simulated evidence (the
    /// simulated platform reports the build measurement itself), this
    /// build's own enclave measurement for hardware evidence.
    pub expect_build_measurement: Option<String>,
    /// The owner key file.
    pub key: PathBuf,
    /// Where to write the sealed key bundle.
    pub out: PathBuf,
    /// Accept evidence from the SIMULATED platform (insecure; development only).
    pub allow_sim: bool,
    /// The simulated platform's public key, hex (default: read from the
    /// platform directory's `platform.pub`).
    pub sim_platform_key: Option<String>,
    /// Simulated platform directory to read `platform.pub` from.
    pub platform: Option<PathBuf>,
    /// The SEV-SNP chip's VCEK (or VLEK) certificate, DER or PEM, for
    /// evidence whose report does not carry it.
    pub snp_vcek: Option<PathBuf>,
    /// Intel's collateral for a TDX quote (JSON); needs a build with the
    /// `tdx` feature.
    pub tdx_collateral: Option<PathBuf>,
    /// Check certificate and collateral validity at this time (seconds since
    /// the Unix epoch) instead of now.
    pub verify_at: Option<u64>,
    /// The lowest SEV-SNP TCB accepted, `bootloader=N,tee=N,snp=N,microcode=N`.
    pub snp_min_tcb: Option<String>,
    /// AMD's certificate revocation list for the chip's family, DER or PEM.
    pub snp_crl: Option<PathBuf>,
    /// TDX runtime measurement registers the TD must report, `INDEX=HEX`.
    pub tdx_rtmr: Vec<String>,
    /// Accept a TDX platform whose TCB status is `SWHardeningNeeded`.
    pub allow_sw_hardening_needed: bool,
    /// Replace an existing output file.
    pub force: bool,
}

/// What `owner provision` verified and wrote.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The sealed key bundle written.
    pub out: PathBuf,
    /// The evidence back-end (`sim` or `tsm:<provider>`).
    pub backend: String,
    /// The verified measurement.
    pub measurement: Measurement,
    /// Whether the evidence came from the SIMULATED platform (it proves
    /// nothing about hardware).
    pub simulated: bool,
    /// The enclave's attested public key, hex.
    pub enclave_key: String,
    /// Security advisories the accepted platform is exposed to (TDX
    /// `SWHardeningNeeded`), empty if none.
    pub advisories: Vec<String>,
}

impl std::fmt::Display for Provisioned {
    /// The summary line (the caller warns separately about simulated evidence).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified {} evidence for measurement {}\nsealed the key bundle to enclave key {}: {}",
            self.backend,
            self.measurement,
            self.enclave_key,
            self.out.display()
        )
    }
}

impl Provisioned {
    /// The warning to show beside the summary when the evidence came from the
    /// simulated platform.
    pub fn warning(&self) -> Option<&'static str> {
        self.simulated.then_some(
            "warning: the enclave runs on the SIMULATED platform: its evidence proves nothing about hardware",
        )
    }

    /// The note to show when the platform was accepted with open security
    /// advisories (`--allow-sw-hardening-needed`).
    pub fn advisory_note(&self) -> Option<String> {
        (!self.advisories.is_empty()).then(|| {
            format!(
                "note: accepted TCB status SWHardeningNeeded; the enclave must mitigate advisories {}",
                self.advisories.join(", ")
            )
        })
    }
}

/// Reads an X.509 certificate file: DER, or PEM (the first `CERTIFICATE`
/// block).
fn read_certificate(path: &Path) -> Result<Vec<u8>> {
    read_der_or_pem(path, "CERTIFICATE", "certificate")
}

/// Reads a certificate revocation list: DER, or PEM (the first `X509 CRL`
/// block).
fn read_crl(path: &Path) -> Result<Vec<u8>> {
    read_der_or_pem(path, "X509 CRL", "CRL")
}

/// Reads an ASN.1 object from a file: DER, or the first PEM block labelled
/// `label`; `what` names the object in errors.
fn read_der_or_pem(path: &Path, label: &str, what: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if text.contains("-----BEGIN") {
            let Some(start) = text.find(&begin).map(|i| i + begin.len()) else {
                bail!("{}: a PEM file without a {label} block", path.display());
            };
            let Some(len) = text[start..].find(&end) else {
                bail!("{}: the PEM {what} has no END line", path.display());
            };
            let b64: String = text[start..start + len]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            return base64::engine::general_purpose::STANDARD
                .decode(b64)
                .with_context(|| {
                    format!("{}: the PEM {what} is not valid base64", path.display())
                });
        }
    }
    // DER: an ASN.1 SEQUENCE.
    if bytes.first() != Some(&0x30) || bytes.len() < 64 {
        bail!(
            "{}: not a {what} (expected DER, which starts with an ASN.1 SEQUENCE, or PEM)",
            path.display()
        );
    }
    Ok(bytes)
}

/// Parses `--tdx-rtmr INDEX=HEX`: an RTMR index (0 to 3) and its 48-byte
/// value in hex.
pub fn parse_rtmr(s: &str) -> Result<(usize, [u8; MEASUREMENT_LEN])> {
    let Some((index, value)) = s.split_once('=') else {
        bail!("--tdx-rtmr {s:?}: expected INDEX=HEX (e.g. 2=<96 hex digits>)");
    };
    let index: usize = match index.trim().parse() {
        Ok(i) if i < 4 => i,
        _ => bail!("--tdx-rtmr {s:?}: the index must be 0, 1, 2 or 3"),
    };
    let bytes = hex::decode(value.trim())
        .with_context(|| format!("--tdx-rtmr {index}=...: the value is not hex"))?;
    let Ok(value) = <[u8; MEASUREMENT_LEN]>::try_from(bytes.as_slice()) else {
        bail!(
            "--tdx-rtmr {index}=...: the value is {} bytes, an RTMR is {MEASUREMENT_LEN} \
             ({} hex digits)",
            bytes.len(),
            2 * MEASUREMENT_LEN
        );
    };
    Ok((index, value))
}

/// The verifier's policy from the provision options.
fn policy(args: &ProvisionOptions) -> Result<Policy> {
    let sim_platform_key = if !args.allow_sim {
        None
    } else if let Some(k) = &args.sim_platform_key {
        Some(parse_public_key(k)?)
    } else {
        let dir = resolve_sim_dir(args.platform.as_deref())?;
        Some(read_public_key(&dir).with_context(
            || "no simulated platform key to pin: pass --sim-platform-key HEX or --platform DIR",
        )?)
    };
    let snp_min_tcb = args
        .snp_min_tcb
        .as_deref()
        .map(SnpTcb::parse)
        .transpose()
        .context("--snp-min-tcb")?;
    Ok(Policy {
        allow_sim: args.allow_sim,
        sim_platform_key,
        snp_vek_der: args.snp_vcek.as_deref().map(read_certificate).transpose()?,
        tdx_collateral_json: args
            .tdx_collateral
            .as_deref()
            .map(read_tdx_collateral)
            .transpose()?,
        now_unix: args.verify_at,
        snp_min_tcb,
        snp_crl_der: args.snp_crl.as_deref().map(read_crl).transpose()?,
        tdx_rtmrs: args
            .tdx_rtmr
            .iter()
            .map(|s| parse_rtmr(s))
            .collect::<Result<_>>()?,
        tdx_allow_sw_hardening_needed: args.allow_sw_hardening_needed,
    })
}

/// The TDX collateral file's bytes, refused by a build that cannot use them.
fn read_tdx_collateral(path: &Path) -> Result<Vec<u8>> {
    if !cfg!(feature = "tdx") {
        bail!(
            "--tdx-collateral {}: this build has no TDX verifier (build with `--features tdx`)",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Parses a hex nonce of 16 to 64 bytes.
pub fn parse_nonce(s: &str) -> Result<Vec<u8>> {
    let v = hex::decode(s.trim()).with_context(|| format!("nonce {s:?} is not hex"))?;
    if !(16..=64).contains(&v.len()) {
        bail!(
            "nonce is {} bytes; use 16 to 64 random bytes (e.g. `plinius owner nonce`)",
            v.len()
        );
    }
    Ok(v)
}

/// `owner provision`: verifies the evidence and writes the key bundle
/// sealed to the enclave's attested key.
pub fn provision(args: &ProvisionOptions) -> Result<Provisioned> {
    let nonce = parse_nonce(&args.nonce)?;
    let expected = Measurement::from_hex(&args.expect_measurement)?;
    let bundle = read_key_file(&args.key)?;
    let bytes = std::fs::read(&args.evidence)
        .with_context(|| format!("{}: cannot read evidence", args.evidence.display()))?;
    let attested = AttestedKey::from_bytes(&bytes)
        .with_context(|| format!("{}: bad evidence file", args.evidence.display()))?;
    let policy = policy(args)?;
    let expected_build = match &args.expect_build_measurement {
        Some(hex) => Measurement::from_hex(hex)?,
        None if matches!(attested.evidence, Evidence::Sim(_)) => expected,
        None => enclave::measurement(),
    };
    let (verified, sealed) = seal_provision(
        &attested,
        &nonce,
        &expected,
        &expected_build,
        &policy,
        &bundle,
    )
    .with_context(|| format!("{}: not provisioning", args.evidence.display()))?;
    write_public_file(&args.out, &sealed, args.force)?;
    Ok(Provisioned {
        out: args.out.clone(),
        backend: verified.backend,
        measurement: verified.measurement,
        simulated: verified.simulated,
        enclave_key: hex::encode(attested.public_key),
        advisories: verified.advisories,
    })
}

/// `owner nonce`: a fresh random nonce of `bytes` bytes (16 to 64), hex.
pub fn new_nonce(bytes: usize) -> Result<String> {
    if !(16..=64).contains(&bytes) {
        bail!("--bytes must be 16 to 64");
    }
    let mut n = vec![0u8; bytes];
    seal::key::random_fill(&mut n)?;
    Ok(hex::encode(n))
}
