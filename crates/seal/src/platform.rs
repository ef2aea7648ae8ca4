//! The platform: what the enclave trusts below itself. It signs evidence and
//! seals data to an enclave measurement, so that a restarted enclave with the
//! same code can recover its keys without the owner.
//!
//! [`SimPlatformKeys`] simulates one with two secrets: an Ed25519 signing
//! key and a sealing secret. It is **insecure**: whoever holds them can
//! forge evidence and unseal. It is for development and CI. The host keeps
//! them in a directory (`hostio::platform::SimPlatform`), as key files in
//! the format of [`SimPlatformKeys::signing_key_file`] and
//! [`SimPlatformKeys::sealing_key_file`].

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::error::{Result, SealError};
use crate::evidence::Measurement;
use crate::evidence::sim::SimProvider;
use crate::key::{KEY_LEN, Key256, KeyBundle};
use crate::record::{open_to_vec, seal_to_vec};

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

fn decode_platform_key(b: &[u8], kind: u16, what: &str) -> Result<Key256> {
    if b.len() != KEY_FILE_LEN {
        return Err(SealError::format(what, KEY_HEADER.foreign));
    }
    let mut r = KEY_HEADER.check(b, what)?;
    if r.u16("key kind")? != kind {
        return Err(SealError::format(
            what,
            "holds the wrong kind of platform key",
        ));
    }
    if !wire::checksum_ok(b, KEY_FILE_LEN - 8) {
        return Err(SealError::format(what, "checksum mismatch (corrupted)"));
    }
    Key256::from_slice(r.take(KEY_LEN, "key")?)
}

/// A simulated platform: Ed25519 signing key and sealing secret.
pub struct SimPlatformKeys {
    signing: SigningKey,
    sealing: Key256,
}

impl std::fmt::Debug for SimPlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimPlatformKeys(public key {})",
            hex::encode(self.public_key())
        )
    }
}

impl SimPlatformKeys {
    /// A new platform with fresh random secrets.
    pub fn generate() -> Result<Self> {
        let seed = Key256::generate()?;
        Ok(SimPlatformKeys {
            signing: SigningKey::from_bytes(seed.expose_secret()),
            sealing: Key256::generate()?,
        })
    }

    /// A platform from its two secrets (tests and fixtures).
    pub fn from_secrets(signing_seed: &Key256, sealing: Key256) -> Self {
        SimPlatformKeys {
            signing: SigningKey::from_bytes(signing_seed.expose_secret()),
            sealing,
        }
    }

    /// Decodes the two key files' bytes; `signing_what` and `sealing_what`
    /// name them in errors.
    pub fn from_key_files(
        signing: &[u8],
        signing_what: &str,
        sealing: &[u8],
        sealing_what: &str,
    ) -> Result<Self> {
        let seed = decode_platform_key(signing, KIND_SIGNING, signing_what)?;
        let sealing = decode_platform_key(sealing, KIND_SEALING, sealing_what)?;
        Ok(Self::from_secrets(&seed, sealing))
    }

    /// The signing key file's bytes: `"PLSIMPLT" ‖ version u16 ‖ kind u16 (1)
    /// ‖ Ed25519 seed ‖ checksum`. Secret.
    pub fn signing_key_file(&self) -> Zeroizing<Vec<u8>> {
        encode_platform_key(KIND_SIGNING, self.signing.as_bytes())
    }

    /// The sealing key file's bytes (kind 2). Secret.
    pub fn sealing_key_file(&self) -> Zeroizing<Vec<u8>> {
        encode_platform_key(KIND_SEALING, self.sealing.expose_secret())
    }

    /// The Ed25519 public key verifiers pin.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key file's text: 64 hex digits and a newline.
    pub fn public_key_file(&self) -> String {
        format!("{}\n", hex::encode(self.public_key()))
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

impl PlatformSealer for SimPlatformKeys {
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

    #[test]
    fn key_files_round_trip_and_are_checked() {
        let p = SimPlatformKeys::generate().unwrap();
        let (sg, sl) = (p.signing_key_file(), p.sealing_key_file());
        let q = SimPlatformKeys::from_key_files(&sg, "signing.key", &sl, "sealing.key").unwrap();
        assert_eq!(p.public_key(), q.public_key());
        let e =
            SimPlatformKeys::from_key_files(&sl, "signing.key", &sg, "sealing.key").unwrap_err();
        assert!(e.to_string().contains("wrong kind"), "{e}");
        for i in 0..sg.len() {
            let mut bad = sg.to_vec();
            bad[i] ^= 1;
            assert!(
                SimPlatformKeys::from_key_files(&bad, "s", &sl, "t").is_err(),
                "byte {i}"
            );
        }
        assert_eq!(
            parse_public_key(p.public_key_file().trim()).unwrap(),
            p.public_key()
        );
    }

    #[test]
    fn platform_sealing_binds_measurement_platform_and_purpose() {
        let p = SimPlatformKeys::generate().unwrap();
        let other = SimPlatformKeys::generate().unwrap();
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
