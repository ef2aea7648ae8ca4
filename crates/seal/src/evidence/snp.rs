//! Verification of SEV-SNP attestation reports (from configfs-tsm provider
//! `sev_guest`) with the `sev` crate, offline.
//!
//! The report's ECDSA P-384 signature must verify under the chip's VCEK (or
//! VLEK) certificate, and that certificate must chain to AMD's ASK and ARK
//! built into the `sev` crate (Milan, Genoa or Turin). The VCEK comes from the
//! report's `auxblob` certificate table when the host provides one, or from
//! the verifier (fetched from AMD's key distribution service for the chip and
//! TCB the report names).
//!
//! Beyond the signature, the report must meet the attestation policy
//! ([`SnpChecks`]): the ARK, ASK and VCEK valid at the verification time and,
//! with AMD's CRL, not revoked; the report's `reported_tcb` no newer than the
//! TCB the VCEK certifies (its X.509 extensions) and at least the owner's
//! minimum; the report requested at VMPL 0; and a guest policy that allows
//! neither debugging (a debugger can read the guest's memory) nor a migration
//! agent (`MIGRATE_MA`: the agent can export the guest's memory).

use sev::certs::snp::{Certificate, Chain, Verifiable, builtin, ca};
use sev::firmware::guest::AttestationReport;
use sev::firmware::host::TcbVersion;
use sev::parser::ByteParser;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use super::SnpTcb;
use crate::error::{Result, SealError};

/// OID arc of AMD's VCEK TCB extensions (1.3.6.1.4.1.3704.1.3.x).
const TCB_OID_ARC: &str = "1.3.6.1.4.1.3704.1.3";
/// The VCEK extension (last arc) of each TCB component.
const TCB_EXTENSIONS: [(&str, u32); 4] =
    [("bootloader", 1), ("tee", 2), ("snp", 3), ("microcode", 8)];
/// The VCEK extension of the FMC's SVN (Turin and later).
const FMC_EXTENSION: u32 = 9;

/// GUID of the VCEK entry in the SEV-SNP certificate table (mixed-endian bytes).
const VCEK_GUID: [u8; 16] = guid(
    0x63da758d,
    0xe664,
    0x4564,
    [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd],
);
/// GUID of the VLEK entry.
const VLEK_GUID: [u8; 16] = guid(
    0xa8074bc2,
    0xa25a,
    0x483e,
    [0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1],
);

/// A built-in AMD certificate loader.
type CertFn = fn() -> std::io::Result<Certificate>;

const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// Finds the VCEK (or VLEK) certificate in an SEV-SNP certificate table
/// (entries of GUID ‖ offset u32 ‖ length u32, ended by an all-zero entry;
/// offsets from the start of the table).
pub fn vek_from_cert_table(table: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    while pos + 24 <= table.len() {
        let g: [u8; 16] = table[pos..pos + 16].try_into().ok()?;
        if g == [0u8; 16] {
            return None;
        }
        let off = u32::from_le_bytes(table[pos + 16..pos + 20].try_into().ok()?) as usize;
        let len = u32::from_le_bytes(table[pos + 20..pos + 24].try_into().ok()?) as usize;
        if g == VCEK_GUID || g == VLEK_GUID {
            return table.get(off..off.checked_add(len)?);
        }
        pos += 24;
    }
    None
}

/// What an SEV-SNP report must meet beyond a valid signature.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnpChecks<'a> {
    /// The chip's VCEK/VLEK certificate (DER); default: the auxblob's.
    pub vek_der: Option<&'a [u8]>,
    /// The lowest `reported_tcb` accepted, component by component.
    pub min_tcb: Option<SnpTcb>,
    /// AMD's CRL (DER) for the chip's family, signed by its ARK.
    pub crl_der: Option<&'a [u8]>,
    /// Verification time for certificate and CRL validity, Unix seconds.
    pub now_unix: u64,
}

/// A built-in AMD root and intermediate that certify a VCEK.
struct AmdChain {
    /// The product family (Milan, Genoa, Turin).
    family: &'static str,
    /// The root and intermediate certificates with the VCEK.
    chain: Chain,
}

/// Verifies an SEV-SNP report: its signature chain (report signed by the VEK
/// from `checks.vek_der` or else the auxblob table, VEK certified by a
/// built-in AMD ASK/ARK) and the attestation policy of [`SnpChecks`] (see
/// the module documentation). Measurement and report data are the caller's.
pub fn verify_snp(report: &[u8], auxblob: &[u8], checks: &SnpChecks<'_>) -> Result<()> {
    let parsed =
        AttestationReport::from_bytes(report).map_err(|e| bad(format!("cannot parse: {e}")))?;
    // The `sev` crate checks the signature over its re-serialisation of the
    // parsed report, which does not carry every byte it was given (reserved
    // fields). Requiring the raw report to equal that re-serialisation makes
    // the signature cover every byte we were given.
    let canonical = parsed
        .to_bytes()
        .map_err(|e| bad(format!("cannot re-serialise: {e}")))?;
    if canonical[..] != report[..] {
        return Err(bad(
            "bytes outside the fields the signature check covers are set (altered report)".into(),
        ));
    }
    let der = match checks.vek_der {
        Some(d) => d,
        None => vek_from_cert_table(auxblob).ok_or_else(|| {
            bad("no VCEK certificate: the report carries none; pass the chip's VCEK (DER)".into())
        })?,
    };
    let vek =
        Certificate::from_der(der).map_err(|e| bad(format!("VCEK certificate unreadable: {e}")))?;
    let amd = amd_chain(vek)?;
    (&amd.chain, &parsed).verify().map_err(|_| {
        bad("signature does not verify under the VCEK (forged or altered report)".into())
    })?;
    let ark = x509_cert::Certificate::from(amd.chain.ca.ark.clone());
    let ask = x509_cert::Certificate::from(amd.chain.ca.ask.clone());
    let vek = x509_cert::Certificate::from(amd.chain.vek.clone());
    for (name, cert) in [("ARK", &ark), ("ASK", &ask), ("VCEK", &vek)] {
        check_validity(amd.family, name, cert, checks.now_unix)?;
    }
    if let Some(crl) = checks.crl_der {
        check_crl(crl, &ark, &[("ASK", &ask), ("VCEK", &vek)], checks.now_unix)?;
    }
    check_guest(&parsed)?;
    check_tcb(parsed.reported_tcb, &vek, checks.min_tcb)
}

fn bad(m: String) -> SealError {
    SealError::Evidence(format!("SEV-SNP report: {m}"))
}

/// The built-in AMD family whose ARK and ASK certify `vek`.
fn amd_chain(vek: Certificate) -> Result<AmdChain> {
    let families: [(&str, CertFn, CertFn); 3] = [
        ("Milan", builtin::milan::ark, builtin::milan::ask),
        ("Genoa", builtin::genoa::ark, builtin::genoa::ask),
        ("Turin", builtin::turin::ark, builtin::turin::ask),
    ];
    for (family, ark, ask) in families {
        let (Ok(ark), Ok(ask)) = (ark(), ask()) else {
            continue;
        };
        let chain = Chain {
            ca: ca::Chain { ark, ask },
            vek: vek.clone(),
        };
        if (&chain).verify().is_ok() {
            return Ok(AmdChain { family, chain });
        }
    }
    Err(bad(
        "the VCEK certificate does not chain to AMD's Milan, Genoa or Turin root".into(),
    ))
}

/// Refuses a certificate outside its validity period at `now` (Unix seconds).
fn check_validity(family: &str, name: &str, cert: &x509_cert::Certificate, now: u64) -> Result<()> {
    let v = &cert.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs();
    let not_after = v.not_after.to_unix_duration().as_secs();
    if now < not_before || now > not_after {
        return Err(bad(format!(
            "the {family} {name} certificate is valid from {} to {} (Unix {not_before} to \
             {not_after}), not at the verification time {now}",
            v.not_before, v.not_after
        )));
    }
    Ok(())
}

/// Refuses guests whose policy or report weakens confidentiality: debugging
/// allowed, a migration agent allowed, or a report requested from a VMPL
/// other than 0.
pub fn check_guest(report: &AttestationReport) -> Result<()> {
    if report.policy.debug_allowed() {
        return Err(bad(
            "the guest policy allows debugging; its memory is not confidential".into(),
        ));
    }
    if report.policy.migrate_ma_allowed() {
        return Err(bad(
            "the guest policy allows a migration agent (MIGRATE_MA), which can export the \
             guest's memory"
                .into(),
        ));
    }
    if report.vmpl != 0 {
        return Err(bad(format!(
            "the report was requested from VMPL {}; only VMPL 0 (the guest's most privileged \
             level) is accepted",
            report.vmpl
        )));
    }
    Ok(())
}

/// One TCB extension of the VCEK (a DER INTEGER in the extension's value),
/// or `None` if the certificate does not carry it.
fn vcek_extension(vek: &x509_cert::Certificate, arc: u32) -> Result<Option<u8>> {
    let oid = ObjectIdentifier::new(&format!("{TCB_OID_ARC}.{arc}"))
        .map_err(|e| bad(format!("TCB extension OID: {e}")))?;
    let Some(ext) = vek
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid)
    else {
        return Ok(None);
    };
    u8::from_der(ext.extn_value.as_bytes())
        .map(Some)
        .map_err(|e| {
            bad(format!(
                "the VCEK's TCB extension {oid} is not a small integer: {e}"
            ))
        })
}

/// The TCB a VCEK certifies, from its X.509 extensions.
pub fn vcek_tcb(vek: &x509_cert::Certificate) -> Result<SnpTcb> {
    let mut v = [0u8; 4];
    for (slot, (name, arc)) in v.iter_mut().zip(TCB_EXTENSIONS) {
        *slot = vcek_extension(vek, arc)?.ok_or_else(|| {
            bad(format!(
                "the VCEK certificate carries no {name} TCB extension ({TCB_OID_ARC}.{arc})"
            ))
        })?;
    }
    Ok(SnpTcb {
        bootloader: v[0],
        tee: v[1],
        snp: v[2],
        microcode: v[3],
    })
}

/// Compares a report's `reported_tcb` with the TCB its VCEK certifies (no
/// component newer) and with the owner's minimum (no component older).
fn check_tcb(
    reported: TcbVersion,
    vek: &x509_cert::Certificate,
    min: Option<SnpTcb>,
) -> Result<()> {
    if let Some(fmc) = reported.fmc {
        let certified = vcek_extension(vek, FMC_EXTENSION)?.ok_or_else(|| {
            bad("the report has an FMC SVN but its VCEK carries no FMC TCB extension".into())
        })?;
        if fmc > certified {
            return Err(bad(format!(
                "reported_tcb fmc={fmc} is newer than the VCEK's fmc={certified}"
            )));
        }
    }
    let reported = SnpTcb {
        bootloader: reported.bootloader,
        tee: reported.tee,
        snp: reported.snp,
        microcode: reported.microcode,
    };
    compare_tcb(&reported, &vcek_tcb(vek)?, min)
}

/// `reported` must be no newer than `certified` and no older than `min`, in
/// every component.
pub fn compare_tcb(reported: &SnpTcb, certified: &SnpTcb, min: Option<SnpTcb>) -> Result<()> {
    for ((name, r), (_, c)) in reported
        .components()
        .into_iter()
        .zip(certified.components())
    {
        if r > c {
            return Err(bad(format!(
                "reported_tcb {name}={r} is newer than the TCB its VCEK certifies ({name}={c}; \
                 reported {reported}, VCEK {certified})"
            )));
        }
    }
    if let Some(min) = min {
        for ((name, r), (_, m)) in reported.components().into_iter().zip(min.components()) {
            if r < m {
                return Err(bad(format!(
                    "reported_tcb {name}={r} is below the required minimum {name}={m} \
                     (reported {reported}, minimum {min})"
                )));
            }
        }
    }
    Ok(())
}

/// OID of RSASSA-PSS, AMD's signature algorithm for its certificates and CRLs.
const RSA_PSS_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// Checks AMD's CRL: issued and signed (RSASSA-PSS, SHA-384) by the
/// family's ARK, current at `now`, and listing none of `certs`.
fn check_crl(
    crl_der: &[u8],
    ark: &x509_cert::Certificate,
    certs: &[(&str, &x509_cert::Certificate)],
    now: u64,
) -> Result<()> {
    let crl = x509_cert::crl::CertificateList::from_der(crl_der).map_err(|e| {
        bad(format!(
            "the CRL is not a DER certificate revocation list: {e}"
        ))
    })?;
    verify_crl_signature(&crl, ark)?;
    let tbs = &crl.tbs_cert_list;
    let issued = tbs.this_update.to_unix_duration().as_secs();
    if now < issued {
        return Err(bad(format!(
            "the CRL was issued at {} (Unix {issued}), after the verification time {now}",
            tbs.this_update
        )));
    }
    if let Some(next) = tbs.next_update {
        let due = next.to_unix_duration().as_secs();
        if now > due {
            return Err(bad(format!(
                "the CRL is out of date: its next update was due at {next} (Unix {due}), before \
                 the verification time {now}; fetch a current one"
            )));
        }
    }
    revoked_among(&crl, certs)
}

/// Refuses if the CRL lists any of `certs` (by serial number; the caller
/// has checked that the CRL's issuer is theirs).
pub fn revoked_among(
    crl: &x509_cert::crl::CertificateList,
    certs: &[(&str, &x509_cert::Certificate)],
) -> Result<()> {
    for revoked in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        for (name, cert) in certs {
            if revoked.serial_number == cert.tbs_certificate.serial_number {
                return Err(bad(format!(
                    "the {name} certificate (serial {}) is revoked by AMD's CRL (since {})",
                    cert.tbs_certificate.serial_number, revoked.revocation_date
                )));
            }
        }
    }
    Ok(())
}

/// The CRL must name the ARK as issuer and carry its RSASSA-PSS signature.
fn verify_crl_signature(
    crl: &x509_cert::crl::CertificateList,
    ark: &x509_cert::Certificate,
) -> Result<()> {
    use rsa::signature::Verifier;
    use x509_cert::der::referenced::OwnedToRef;
    if crl.tbs_cert_list.issuer != ark.tbs_certificate.subject {
        return Err(bad(format!(
            "the CRL is issued by {}, not by the VCEK's AMD root {}",
            crl.tbs_cert_list.issuer, ark.tbs_certificate.subject
        )));
    }
    if crl.signature_algorithm.oid != RSA_PSS_OID {
        return Err(bad(format!(
            "the CRL's signature algorithm {} is not RSASSA-PSS (AMD's)",
            crl.signature_algorithm.oid
        )));
    }
    let key =
        rsa::RsaPublicKey::try_from(ark.tbs_certificate.subject_public_key_info.owned_to_ref())
            .map_err(|e| bad(format!("the AMD root's RSA key is unusable: {e}")))?;
    let signature = rsa::pss::Signature::try_from(crl.signature.raw_bytes())
        .map_err(|e| bad(format!("the CRL's signature is malformed: {e}")))?;
    let message = crl
        .tbs_cert_list
        .to_der()
        .map_err(|e| bad(format!("cannot re-encode the CRL: {e}")))?;
    rsa::pss::VerifyingKey::<rsa::sha2::Sha384>::new(key)
        .verify(&message, &signature)
        .map_err(|_| {
            bad("the CRL's signature does not verify under AMD's root (forged CRL)".into())
        })
}
