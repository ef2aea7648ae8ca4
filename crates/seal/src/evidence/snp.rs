//! Verification of SEV-SNP attestation reports (from configfs-tsm provider
//! `sev_guest`) with the `sev` crate, offline.
//!
//! The report's ECDSA P-384 signature must verify under the chip's VCEK (or
//! VLEK) certificate, and that certificate must chain to AMD's ASK and ARK
//! built into the `sev` crate (Milan, Genoa or Turin). The VCEK comes from the
//! report's `auxblob` certificate table when the host provides one, or from
//! the verifier (fetched from AMD's key distribution service for the chip and
//! TCB the report names). Reports of guests whose policy allows debugging
//! are refused (a debugger can read the guest's memory).

use sev::certs::snp::{Certificate, Chain, Verifiable, builtin, ca};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::error::{Result, SealError};

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

/// Verifies the signature chain of an SEV-SNP report: report signed by the
/// VEK (from `vek_der`, or else the auxblob table), VEK certified by a
/// built-in AMD ASK/ARK. Refuses debug-enabled guests. Field checks
/// (measurement, report data) are the caller's.
pub fn verify_snp(report: &[u8], auxblob: &[u8], vek_der: Option<&[u8]>) -> Result<()> {
    let bad = |m: String| SealError::Evidence(format!("SEV-SNP report: {m}"));
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
    let der = match vek_der {
        Some(d) => d,
        None => vek_from_cert_table(auxblob).ok_or_else(|| {
            bad("no VCEK certificate: the report carries none; pass the chip's VCEK (DER)".into())
        })?,
    };
    let vek =
        Certificate::from_der(der).map_err(|e| bad(format!("VCEK certificate unreadable: {e}")))?;
    let families: [(&str, CertFn, CertFn); 3] = [
        ("Milan", builtin::milan::ark, builtin::milan::ask),
        ("Genoa", builtin::genoa::ark, builtin::genoa::ask),
        ("Turin", builtin::turin::ark, builtin::turin::ask),
    ];
    let mut chain = None;
    for (_name, ark, ask) in families {
        let (Ok(ark), Ok(ask)) = (ark(), ask()) else {
            continue;
        };
        let c = Chain {
            ca: ca::Chain { ark, ask },
            vek: vek.clone(),
        };
        if (&c).verify().is_ok() {
            chain = Some(c);
            break;
        }
    }
    let chain = chain.ok_or_else(|| {
        bad("the VCEK certificate does not chain to AMD's Milan, Genoa or Turin root".into())
    })?;
    (&chain, &parsed).verify().map_err(|_| {
        bad("signature does not verify under the VCEK (forged or altered report)".into())
    })?;
    if parsed.policy.debug_allowed() {
        return Err(bad(
            "the guest policy allows debugging; its memory is not confidential".into(),
        ));
    }
    Ok(())
}
