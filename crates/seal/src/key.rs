//! Keys: 256-bit secrets, HKDF subkeys, prepared AES-256-GCM record keys, the
//! owner's dataset and model keys and the [`KeyBundle`] that is provisioned to
//! the enclave.
//!
//! No key type implements `Display`, and their `Debug` shows only the role and a
//! short fingerprint (a hash), never key bytes. Key bytes are zeroised on drop.

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::{digest, hkdf};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, SealError};

/// Length in bytes of every symmetric key in Plinius (AES-256).
pub const KEY_LEN: usize = 32;

/// HKDF label of the key that seals dataset records.
pub const LABEL_DATASET: &str = "plinius/dataset/v1";
/// HKDF label of the key that seals the model mirror in persistent memory.
pub const LABEL_MIRROR: &str = "plinius/mirror/v1";
/// HKDF label of the key that seals a model exported for the owner.
pub const LABEL_EXPORT: &str = "plinius/export/v1";

const HKDF_SALT: &[u8] = b"plinius/hkdf-salt/v1";

/// Fills `buf` from the system's cryptographically secure random generator.
pub fn random_fill(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| SealError::Random)
}

/// A 256-bit secret. Zeroised on drop; `Debug` prints a fingerprint only.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct Key256 {
    bytes: [u8; KEY_LEN],
}

impl Key256 {
    /// A fresh random key from the system generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        random_fill(&mut bytes)?;
        Ok(Key256 { bytes })
    }

    /// Takes ownership of raw key bytes (the caller should zeroise its copy).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key256 { bytes }
    }

    /// Reads a key from a slice of exactly [`KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::Length {
            what: "key".into(),
            actual: bytes.len(),
            expected: KEY_LEN,
        })?;
        Ok(Key256 { bytes: arr })
    }

    /// The raw key bytes. Only for serialisation into sealed containers.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Derives the subkey for `label` (HKDF-SHA256, fixed salt, `label` as info).
    /// Distinct labels give independent keys.
    pub fn derive(&self, label: &str) -> Key256 {
        self.derive_with(&[label.as_bytes()])
    }

    /// Derives a subkey whose HKDF info is the concatenation of `info` parts.
    pub fn derive_with(&self, info: &[&[u8]]) -> Key256 {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT);
        let prk = salt.extract(&self.bytes);
        let mut out = [0u8; KEY_LEN];
        // The output length (32) equals SHA-256's: HKDF-Expand cannot fail here.
        prk.expand(info, hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("HKDF-SHA256 expand of 32 bytes");
        Key256 { bytes: out }
    }

    /// A short public fingerprint of the key (first 8 bytes of SHA-256 over a
    /// domain tag and the key, hex): safe to print, identifies the key.
    pub fn fingerprint(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"plinius/key-fingerprint/v1");
        ctx.update(&self.bytes);
        hex::encode(&ctx.finish().as_ref()[..8])
    }

    /// Prepares this key for AES-256-GCM records (see [`SealKey`]).
    pub fn seal_key(&self) -> SealKey {
        SealKey::new(self)
    }
}

impl PartialEq for Key256 {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.bytes, &other.bytes).is_ok()
    }
}
impl Eq for Key256 {}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key256(fingerprint {})", self.fingerprint())
    }
}

/// Records one [`SealKey`] may seal: the nonce's invocation field is 32 bits.
pub const MAX_RECORDS_PER_SEAL_KEY: u64 = 1 << 32;

/// An AES-256-GCM key with its key schedule prepared once, used for every
/// record operation in [`crate::record`] and [`crate::chunked`] (no key setup
/// or allocation per call).
///
/// Nonces follow NIST SP 800-38D §8.2.1: a 64-bit fixed field drawn at random
/// when the `SealKey` is prepared, then a 32-bit invocation counter. Two
/// preparations of the same key (for example before and after a restart)
/// draw independent fixed fields, so nonces repeat only if two 64-bit random
/// values collide. One `SealKey` seals at most [`MAX_RECORDS_PER_SEAL_KEY`]
/// records, then refuses (prepare a new one).
///
/// The key schedule lives in an aws-lc `EVP_AEAD_CTX`, freed with
/// `OPENSSL_free`, which clears the allocation.
pub struct SealKey {
    aead: LessSafeKey,
    fingerprint: String,
    nonce_prefix: [u8; 8],
    counter: std::sync::atomic::AtomicU64,
}

impl SealKey {
    /// Prepares `key` for sealing and opening records.
    pub fn new(key: &Key256) -> Self {
        // AES_256_GCM takes exactly KEY_LEN bytes, so this cannot fail.
        let unbound =
            UnboundKey::new(&AES_256_GCM, key.expose_secret()).expect("AES-256 key length");
        let mut nonce_prefix = [0u8; 8];
        // aws-lc's generator aborts the process rather than return weak bytes.
        random_fill(&mut nonce_prefix).expect("system random generator");
        SealKey {
            aead: LessSafeKey::new(unbound),
            fingerprint: key.fingerprint(),
            nonce_prefix,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }

    /// The next unique nonce for this prepared key.
    pub(crate) fn next_nonce(&self) -> Result<[u8; 12]> {
        let c = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if c >= MAX_RECORDS_PER_SEAL_KEY {
            return Err(SealError::Seal {
                what: format!(
                    "record under key {}: this prepared key sealed 2^32 records; prepare a new SealKey",
                    self.fingerprint
                ),
            });
        }
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&self.nonce_prefix);
        n[8..].copy_from_slice(&(c as u32).to_be_bytes());
        Ok(n)
    }

    /// The fingerprint of the key this was prepared from.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey(fingerprint {})", self.fingerprint)
    }
}

/// The data owner's dataset key: seals the training and test records.
#[derive(Clone, PartialEq, Eq)]
pub struct DatasetKey(Key256);

impl DatasetKey {
    /// A fresh random dataset key.
    pub fn generate() -> Result<Self> {
        Ok(DatasetKey(Key256::generate()?))
    }
    /// Wraps a key.
    pub fn from_key(key: Key256) -> Self {
        DatasetKey(key)
    }
    /// The underlying secret.
    pub fn key(&self) -> &Key256 {
        &self.0
    }
    /// The prepared record key for dataset samples (subkey [`LABEL_DATASET`]).
    pub fn record_key(&self) -> SealKey {
        self.0.derive(LABEL_DATASET).seal_key()
    }
}

impl std::fmt::Debug for DatasetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatasetKey(fingerprint {})", self.0.fingerprint())
    }
}

/// The model key: seals the model mirror and the exported model.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelKey(Key256);

impl ModelKey {
    /// A fresh random model key.
    pub fn generate() -> Result<Self> {
        Ok(ModelKey(Key256::generate()?))
    }
    /// Wraps a key.
    pub fn from_key(key: Key256) -> Self {
        ModelKey(key)
    }
    /// The underlying secret.
    pub fn key(&self) -> &Key256 {
        &self.0
    }
    /// The prepared key for the persistent-memory mirror (subkey [`LABEL_MIRROR`]).
    pub fn mirror_key(&self) -> SealKey {
        self.0.derive(LABEL_MIRROR).seal_key()
    }
    /// The prepared key for a model exported to the owner (subkey [`LABEL_EXPORT`]).
    pub fn export_key(&self) -> SealKey {
        self.0.derive(LABEL_EXPORT).seal_key()
    }
}

impl std::fmt::Debug for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelKey(fingerprint {})", self.0.fingerprint())
    }
}

/// Everything the owner hands to an attested enclave: the dataset key and the
/// model key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyBundle {
    /// Opens the sealed dataset.
    pub dataset: DatasetKey,
    /// Seals the mirror and the exported model.
    pub model: ModelKey,
}

/// Magic and version of a serialised [`KeyBundle`].
const BUNDLE_HEADER: wire::Header = wire::Header {
    magic: b"PLKB",
    width: wire::VersionWidth::U16,
    version: BUNDLE_VERSION as u32,
    min_len: BUNDLE_LEN,
    foreign: "not a Plinius key bundle (bad magic)",
    label: "format version",
};
/// Format version of a serialised [`KeyBundle`].
pub const BUNDLE_VERSION: u16 = 1;
/// Length of a serialised [`KeyBundle`].
pub const BUNDLE_LEN: usize = 4 + 2 + 2 + 2 * KEY_LEN;

impl KeyBundle {
    /// A bundle of two fresh random keys.
    pub fn generate() -> Result<Self> {
        Ok(KeyBundle {
            dataset: DatasetKey::generate()?,
            model: ModelKey::generate()?,
        })
    }

    /// Serialises the bundle: `"PLKB" ‖ version u16 LE ‖ 0u16 ‖ dataset key ‖
    /// model key`. The result holds key bytes: it is zeroised on drop and must
    /// only be written sealed.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = wire::Writer::with_capacity(BUNDLE_LEN);
        BUNDLE_HEADER.write(&mut w);
        w.u16(0);
        w.bytes(self.dataset.key().expose_secret());
        w.bytes(self.model.key().expose_secret());
        w.into_zeroizing()
    }

    /// Parses [`KeyBundle::to_bytes`] output, checking magic, version and length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "key bundle";
        if bytes.len() != BUNDLE_LEN {
            return Err(SealError::format(
                what,
                format!("length {} bytes, expected {BUNDLE_LEN}", bytes.len()),
            ));
        }
        let mut r = BUNDLE_HEADER.check(bytes, what)?;
        r.skip(2, "reserved")?;
        let mut d = [0u8; KEY_LEN];
        let mut m = [0u8; KEY_LEN];
        d.copy_from_slice(r.take(KEY_LEN, "dataset key")?);
        m.copy_from_slice(r.take(KEY_LEN, "model key")?);
        let bundle = KeyBundle {
            dataset: DatasetKey(Key256::from_bytes(d)),
            model: ModelKey(Key256::from_bytes(m)),
        };
        d.zeroize();
        m.zeroize();
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_is_deterministic_and_label_separated() {
        let k = Key256::from_bytes([7u8; 32]);
        assert_eq!(k.derive(LABEL_MIRROR), k.derive(LABEL_MIRROR));
        assert_ne!(k.derive(LABEL_MIRROR), k.derive(LABEL_DATASET));
        assert_ne!(k.derive(LABEL_MIRROR), k);
        let other = Key256::from_bytes([8u8; 32]);
        assert_ne!(k.derive(LABEL_MIRROR), other.derive(LABEL_MIRROR));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = Key256::from_bytes([0xAB; 32]);
        let bundle = KeyBundle {
            dataset: DatasetKey::from_key(k.clone()),
            model: ModelKey::from_key(Key256::from_bytes([0xCD; 32])),
        };
        for s in [
            format!("{k:?}"),
            format!("{bundle:?}"),
            format!("{:?}", k.seal_key()),
        ] {
            assert!(!s.to_lowercase().contains("abab"), "{s}");
            assert!(!s.to_lowercase().contains("cdcd"), "{s}");
            assert!(!s.contains("171, 171"), "{s}");
        }
    }

    #[test]
    fn bundle_round_trip_and_rejects_bad_input() {
        let b = KeyBundle::generate().unwrap();
        let bytes = b.to_bytes();
        assert_eq!(KeyBundle::from_bytes(&bytes).unwrap(), b);
        let mut bad = bytes.to_vec();
        bad[0] ^= 1;
        assert!(KeyBundle::from_bytes(&bad).is_err());
        let mut bad = bytes.to_vec();
        bad[4] = 9;
        assert!(
            KeyBundle::from_bytes(&bad)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
        assert!(KeyBundle::from_bytes(&bytes[..BUNDLE_LEN - 1]).is_err());
    }

    #[test]
    fn nonces_unique_per_preparation_and_bounded() {
        let k = Key256::from_bytes([1u8; 32]);
        let a = k.seal_key();
        let b = k.seal_key();
        let (a0, a1, b0) = (
            a.next_nonce().unwrap(),
            a.next_nonce().unwrap(),
            b.next_nonce().unwrap(),
        );
        assert_ne!(a0, a1);
        assert_ne!(a0, b0, "two preparations of one key must not share nonces");
        a.counter.store(
            MAX_RECORDS_PER_SEAL_KEY - 1,
            std::sync::atomic::Ordering::Relaxed,
        );
        assert!(a.next_nonce().is_ok());
        let e = a.next_nonce().unwrap_err();
        assert!(e.to_string().contains("prepare a new SealKey"), "{e}");
        assert!(crate::record::seal_to_vec(&a, b"x", b"y").is_err());
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(Key256::generate().unwrap(), Key256::generate().unwrap());
    }
}
