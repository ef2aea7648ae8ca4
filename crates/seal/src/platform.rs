//! The platform: what the enclave trusts below itself. It signs evidence and
//! seals data to an enclave measurement, so that a restarted enclave with the
//! same code can recover its keys without the owner.
//!
//! [`SimPlatform`] simulates one in a directory (mode 0700) holding:
//! - `signing.key`: the Ed25519 platform signing key (0600),
//! - `sealing.key`: the platform sealing secret (0600),
//! - `platform.pub`: the signing public key in hex (public; verifiers pin it).
//!
//! It is **insecure**: whoever reads these files can forge evidence and
//! unseal. It is for development and CI. [`resolve_sim_dir`] picks the
//! directory: `--platform DIR`, else `$PLINIUS_SIM_PLATFORM`, else
//! `$XDG_DATA_HOME/plinius/sim-platform`, else
//! `~/.local/share/plinius/sim-platform`.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::error::{Result, SealError};
use crate::evidence::Measurement;
use crate::evidence::sim::SimProvider;
use crate::files::{create_private_dir, read_secret_file, write_public_file, write_secret_file};
use crate::key::{KEY_LEN, Key256, KeyBundle};
use crate::record::{open_to_vec, seal_to_vec};

/// Environment variable naming the simulated platform directory.
pub const SIM_PLATFORM_ENV: &str = "PLINIUS_SIM_PLATFORM";

/// Seals data to an enclave measurement on this platform.
pub trait PlatformSealer {
    /// Seals `data` so that only an enclave with `measurement` on this
    /// platform can unseal it, for the given `purpose` (bound as associated data).
    fn seal(&self, measurement: &Measurement, purpose: &str, data: &[u8]) -> Result<Vec<u8>>;
    /// Unseals a blob made by [`PlatformSealer::seal`] with the same
    /// measurement and purpose.
    fn unseal(
        &self,
        measurement: &Measurement,
        purpose: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>>;
}

/// The simulated platform directory to use (see the module docs).
pub fn resolve_sim_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(SIM_PLATFORM_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p).join("plinius/sim-platform"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(h).join(".local/share/plinius/sim-platform"));
    }
    Err(SealError::format(
        "simulated platform",
        format!("no directory: pass --platform DIR or set {SIM_PLATFORM_ENV}"),
    ))
}

const KIND_SIGNING: u16 = 1;
const KIND_SEALING: u16 = 2;
const KEY_FILE_LEN: usize = 8 + 2 + 2 + KEY_LEN + 8;
/// The header of a simulated platform key file.
const KEY_HEADER: wire::Header = wire::Header {
    magic: b"PLSIMPLT",
    width: wire::VersionWidth::U16,
    version: 1,
    min_len: KEY_FILE_LEN,
    foreign: "not a simulated platform key file",
    label: "format version",
};

fn encode_platform_key(kind: u16, key: &[u8; KEY_LEN]) -> Zeroizing<Vec<u8>> {
    let mut w = wire::Writer::with_capacity(KEY_FILE_LEN);
    KEY_HEADER.write(&mut w);
    w.u16(kind);
    w.bytes(key);
    w.checksum();
    w.into_zeroizing()
}

fn decode_platform_key(path: &Path, kind: u16) -> Result<Key256> {
    let b = read_secret_file(path)?;
    let what = format!("{}", path.display());
    if b.len() != KEY_FILE_LEN {
        return Err(SealError::format(what, KEY_HEADER.foreign));
    }
    let mut r = KEY_HEADER.check(&b, &what)?;
    if r.u16("key kind")? != kind {
        return Err(SealError::format(
            what,
            "holds the wrong kind of platform key",
        ));
    }
    if !wire::checksum_ok(&b, KEY_FILE_LEN - 8) {
        return Err(SealError::format(what, "checksum mismatch (corrupted)"));
    }
    Key256::from_slice(r.take(KEY_LEN, "key")?)
}

/// A simulated platform: Ed25519 signing key and sealing secret in a directory.
pub struct SimPlatform {
    dir: PathBuf,
    signing: SigningKey,
    sealing: Key256,
}

impl std::fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimPlatform({}, public key {})",
            self.dir.display(),
            hex::encode(self.public_key())
        )
    }
}

impl SimPlatform {
    /// Opens the platform in `dir`, creating it if the directory does not
    /// exist or is empty. Returns whether it was created. A directory with
    /// some but not all of the files is an error (never silently replaced).
    pub fn open_or_create(dir: &Path) -> Result<(Self, bool)> {
        let files = ["signing.key", "sealing.key", "platform.pub"];
        let present: Vec<bool> = files.iter().map(|f| dir.join(f).exists()).collect();
        if present.iter().all(|&p| p) {
            return Ok((Self::open(dir)?, false));
        }
        if present.iter().any(|&p| p) {
            return Err(SealError::format(
                format!("{}", dir.display()),
                "incomplete simulated platform (some of signing.key, sealing.key, platform.pub \
                 are missing); refusing to replace it",
            ));
        }
        create_private_dir(dir)?;
        let seed = Key256::generate()?;
        let sealing = Key256::generate()?;
        write_secret_file(
            &dir.join("signing.key"),
            &encode_platform_key(KIND_SIGNING, seed.expose_secret()),
            false,
        )?;
        write_secret_file(
            &dir.join("sealing.key"),
            &encode_platform_key(KIND_SEALING, sealing.expose_secret()),
            false,
        )?;
        let signing = SigningKey::from_bytes(seed.expose_secret());
        let public = hex::encode(signing.verifying_key().to_bytes());
        write_public_file(
            &dir.join("platform.pub"),
            format!("{public}\n").as_bytes(),
            false,
        )?;
        Ok((
            SimPlatform {
                dir: dir.to_path_buf(),
                signing,
                sealing,
            },
            true,
        ))
    }

    /// Opens an existing platform in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let seed = decode_platform_key(&dir.join("signing.key"), KIND_SIGNING)?;
        let sealing = decode_platform_key(&dir.join("sealing.key"), KIND_SEALING)?;
        let signing = SigningKey::from_bytes(seed.expose_secret());
        let platform = SimPlatform {
            dir: dir.to_path_buf(),
            signing,
            sealing,
        };
        let published = read_public_key(dir)?;
        if published != platform.public_key() {
            return Err(SealError::format(
                format!("{}", dir.join("platform.pub").display()),
                "does not match signing.key",
            ));
        }
        Ok(platform)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Ed25519 public key verifiers pin.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// An evidence provider that reports `measurement` (in a real TEE the
    /// hardware measures; here the caller states what the enclave is).
    pub fn provider(&self, measurement: Measurement) -> SimProvider<'_> {
        SimProvider {
            signing: &self.signing,
            measurement,
        }
    }

    fn sealing_key(&self, measurement: &Measurement) -> crate::key::SealKey {
        self.sealing
            .derive_with(&[b"plinius/platform-seal/v1", &measurement.0])
            .seal_key()
    }
}

/// Reads `platform.pub` (hex Ed25519 public key) from a platform directory;
/// needs no secret, so a verifier on the same machine can pin it.
pub fn read_public_key(dir: &Path) -> Result<[u8; 32]> {
    let p = dir.join("platform.pub");
    let s = std::fs::read_to_string(&p).map_err(|e| SealError::io(&p, e))?;
    parse_public_key(s.trim()).map_err(|e| match e {
        SealError::Format { reason, .. } => SealError::format(format!("{}", p.display()), reason),
        other => other,
    })
}

/// Parses a 64-hex-digit Ed25519 public key.
pub fn parse_public_key(s: &str) -> Result<[u8; 32]> {
    let v = hex::decode(s.trim())
        .map_err(|e| SealError::format("platform public key", format!("not hex: {e}")))?;
    v.as_slice().try_into().map_err(|_| {
        SealError::format(
            "platform public key",
            format!("{} bytes, expected 32 (64 hex digits)", v.len()),
        )
    })
}

/// The header of a platform-sealed blob.
const SEALED_HEADER: wire::Header = wire::Header {
    magic: b"PLPLSEAL",
    width: wire::VersionWidth::U16,
    version: 1,
    min_len: 12,
    foreign: "not a platform-sealed blob (bad magic)",
    label: "format version",
};

fn platform_aad(purpose: &str, measurement: &Measurement) -> Vec<u8> {
    let mut w = wire::Writer::with_capacity(12 + purpose.len() + 48);
    SEALED_HEADER.write(&mut w);
    w.u16(purpose.len() as u16);
    w.bytes(purpose.as_bytes());
    w.bytes(&measurement.0);
    w.into_vec()
}

impl PlatformSealer for SimPlatform {
    /// Blob: `"PLPLSEAL" ‖ version u16 ‖ purpose length u16 ‖ purpose ‖
    /// measurement (48) ‖ record`, the record sealed with a key derived from
    /// the platform secret and the measurement, AAD = everything before it.
    fn seal(&self, measurement: &Measurement, purpose: &str, data: &[u8]) -> Result<Vec<u8>> {
        let aad = platform_aad(purpose, measurement);
        let rec = seal_to_vec(&self.sealing_key(measurement), &aad, data)?;
        let mut v = aad;
        v.extend_from_slice(&rec);
        Ok(v)
    }

    fn unseal(
        &self,
        measurement: &Measurement,
        purpose: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let what = format!("platform-sealed {purpose}");
        let mut r = SEALED_HEADER.check(blob, &what)?;
        let plen = r.u16("purpose length")? as usize;
        let (stored_purpose, stored_m) = match (r.take(plen, "purpose"), r.take(48, "measurement"))
        {
            (Ok(p), Ok(m)) => (p, m),
            _ => return Err(SealError::format(&what, "truncated")),
        };
        if stored_purpose != purpose.as_bytes() {
            return Err(SealError::format(
                &what,
                format!(
                    "sealed for purpose {:?}",
                    String::from_utf8_lossy(stored_purpose)
                ),
            ));
        }
        if stored_m != measurement.0 {
            return Err(SealError::format(
                &what,
                format!(
                    "sealed for enclave measurement {}, this enclave is {}",
                    hex::encode(stored_m),
                    measurement
                ),
            ));
        }
        let aad = platform_aad(purpose, measurement);
        let rec = &blob[aad.len()..];
        open_to_vec(&self.sealing_key(measurement), &aad, rec)
            .map(Zeroizing::new)
            .map_err(|e| e.for_record(format!("{what} (another platform, or tampered)")))
    }
}

/// Purpose label of a platform-sealed key bundle.
pub const PURPOSE_KEY_BUNDLE: &str = "plinius/key-bundle/v1";

/// Seals the key bundle to the platform for restarts.
pub fn seal_to_platform(
    sealer: &dyn PlatformSealer,
    bundle: &KeyBundle,
    measurement: &Measurement,
) -> Result<Vec<u8>> {
    sealer.seal(measurement, PURPOSE_KEY_BUNDLE, &bundle.to_bytes())
}

/// Unseals a key bundle sealed by [`seal_to_platform`].
pub fn unseal_from_platform(
    sealer: &dyn PlatformSealer,
    blob: &[u8],
    measurement: &Measurement,
) -> Result<KeyBundle> {
    let bytes = sealer.unseal(measurement, PURPOSE_KEY_BUNDLE, blob)?;
    KeyBundle::from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_private_files_then_reopened() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("plat");
        let (p, created) = SimPlatform::open_or_create(&dir).unwrap();
        assert!(created);
        for f in ["signing.key", "sealing.key"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let (q, created) = SimPlatform::open_or_create(&dir).unwrap();
        assert!(!created);
        assert_eq!(p.public_key(), q.public_key());
        assert_eq!(read_public_key(&dir).unwrap(), p.public_key());
        // Incomplete platform: refused, not replaced.
        std::fs::remove_file(dir.join("sealing.key")).unwrap();
        let e = SimPlatform::open_or_create(&dir).unwrap_err();
        assert!(e.to_string().contains("incomplete"), "{e}");
        assert!(dir.join("signing.key").exists());
    }

    #[test]
    fn platform_sealing_binds_measurement_platform_and_purpose() {
        let d = tempfile::tempdir().unwrap();
        let (p, _) = SimPlatform::open_or_create(&d.path().join("a")).unwrap();
        let (other, _) = SimPlatform::open_or_create(&d.path().join("b")).unwrap();
        let m = Measurement::of(b"enclave v1");
        let m2 = Measurement::of(b"enclave v2");
        let bundle = KeyBundle::generate().unwrap();
        let blob = seal_to_platform(&p, &bundle, &m).unwrap();
        assert_eq!(unseal_from_platform(&p, &blob, &m).unwrap(), bundle);
        let e = unseal_from_platform(&p, &blob, &m2).unwrap_err();
        assert!(
            e.to_string().contains("sealed for enclave measurement"),
            "{e}"
        );
        let e = unseal_from_platform(&other, &blob, &m).unwrap_err();
        assert!(e.to_string().contains("another platform"), "{e}");
        assert!(p.unseal(&m, "other purpose", &blob).is_err());
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(unseal_from_platform(&p, &bad, &m).is_err(), "byte {i}");
        }
        // The blob holds no key bytes.
        for k in [bundle.dataset.key(), bundle.model.key()] {
            assert!(!blob.windows(32).any(|w| w == k.expose_secret()));
        }
    }
}
