//! Key provisioning: the owner hands its [`KeyBundle`] to an attested enclave.
//!
//! 1. Enclave ([`EnclaveSession::start`]): makes an ephemeral X25519 key pair,
//!    asks its platform for evidence over
//!    [`report_data`]`(public key, owner's nonce, its measurement)` and publishes an
//!    [`AttestedKey`] (public key + evidence). It seals its secret key and the
//!    nonce to the platform ([`EnclaveSession::seal_state`]) so a later process
//!    of the same enclave can finish the exchange.
//! 2. Owner ([`provision`]): verifies the evidence against the expected
//!    measurement, its nonce and its policy, then seals the bundle to the
//!    attested key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//!    HKDF-SHA256, AES-256-GCM). The HPKE `info` binds the nonce and the
//!    enclave key, so a captured bundle is useless to any other enclave
//!    instance or session.
//! 3. Enclave ([`accept_bundle`]): unseals its session state and opens the bundle.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::error::{Result, SealError};
use crate::evidence::{
    Evidence, EvidenceProvider, Measurement, Policy, Verified, report_data,
    report_data_without_measurement, verify,
};
use crate::key::KeyBundle;
use crate::platform::PlatformSealer;

type Kem = X25519HkdfSha256;

/// An enclave's ephemeral X25519 key pair for receiving the bundle.
pub struct EnclaveKeyPair {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl std::fmt::Debug for EnclaveKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnclaveKeyPair(public {})", hex::encode(self.public))
    }
}

impl EnclaveKeyPair {
    /// A fresh key pair from the system generator.
    pub fn generate() -> Self {
        let (sk, pk) = Kem::gen_keypair();
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        EnclaveKeyPair { secret, public }
    }

    /// Rebuilds a key pair from its secret.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
            .map_err(|_| SealError::Provision("invalid X25519 secret key".into()))?;
        let pk = Kem::sk_to_pk(&sk);
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(secret);
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Ok(EnclaveKeyPair { secret: s, public })
    }

    /// The public key, published in the [`AttestedKey`].
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }
}

/// The header of an evidence file ([`AttestedKey`]).
const ATTESTED_HEADER: wire::Header = wire::Header {
    magic: b"PLATTKEY",
    width: wire::VersionWidth::U16,
    version: 1,
    min_len: 44,
    foreign: "not a Plinius evidence file (bad magic)",
    label: "format version",
};

/// What the enclave publishes: its ephemeral public key and the evidence
/// whose report data binds that key to the verifier's nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedKey {
    /// The enclave's ephemeral X25519 public key.
    pub public_key: [u8; 32],
    /// Evidence over `report_data(public_key, nonce, measurement)`.
    pub evidence: Evidence,
}

impl AttestedKey {
    /// Serialises: `"PLATTKEY" ‖ version u16 ‖ 0u16 ‖ public key ‖ evidence`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = wire::Writer::new();
        ATTESTED_HEADER.write(&mut w);
        w.u16(0);
        w.bytes(&self.public_key);
        w.bytes(&self.evidence.to_bytes());
        w.into_vec()
    }

    /// Parses [`AttestedKey::to_bytes`] output.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = ATTESTED_HEADER.check(b, "evidence file")?;
        r.skip(2, "reserved")?;
        Ok(AttestedKey {
            public_key: r.array("public key")?,
            evidence: Evidence::from_bytes(r.rest())?,
        })
    }
}

/// The header of a sealed key bundle file (also its HPKE associated data).
const BUNDLE_HEADER: wire::Header = wire::Header {
    magic: b"PLBUNDLE",
    width: wire::VersionWidth::U16,
    version: 1,
    min_len: 10 + 32,
    foreign: "not a Plinius sealed bundle (bad magic)",
    label: "format version",
};
const HPKE_INFO_DOMAIN: &[u8] = b"plinius/provision/v1";

fn hpke_info(nonce: &[u8], enclave_public_key: &[u8; 32]) -> Vec<u8> {
    let mut info = Vec::with_capacity(HPKE_INFO_DOMAIN.len() + 2 + nonce.len() + 32);
    info.extend_from_slice(HPKE_INFO_DOMAIN);
    info.extend_from_slice(&(nonce.len() as u16).to_le_bytes());
    info.extend_from_slice(nonce);
    info.extend_from_slice(enclave_public_key);
    info
}

fn bundle_aad() -> Vec<u8> {
    BUNDLE_HEADER.to_bytes()
}

/// Seals `bundle` to `enclave_public_key` for the session with `nonce`.
/// Output: `"PLBUNDLE" ‖ version u16 ‖ HPKE encapsulated key (32) ‖ ciphertext`.
/// Only call this after the key's evidence verified (see [`provision`]).
pub fn seal_bundle(
    bundle: &KeyBundle,
    enclave_public_key: &[u8; 32],
    nonce: &[u8],
) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(enclave_public_key)
        .map_err(|_| SealError::Provision("invalid enclave public key".into()))?;
    let aad = bundle_aad();
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        &hpke_info(nonce, enclave_public_key),
        &bundle.to_bytes(),
        &aad,
    )
    .map_err(|e| SealError::Provision(format!("HPKE seal failed: {e}")))?;
    let mut out = aad;
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed bundle with the enclave's key pair for the session `nonce`.
pub fn open_bundle(keypair: &EnclaveKeyPair, nonce: &[u8], sealed: &[u8]) -> Result<KeyBundle> {
    let aad = bundle_aad();
    let mut r = BUNDLE_HEADER.check(sealed, "key bundle file")?;
    let enc = r.take(32, "encapsulated key")?;
    let ct = r.rest();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| SealError::format("key bundle file", "invalid encapsulated key"))?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&keypair.secret[..])
        .map_err(|_| SealError::Provision("invalid enclave secret key".into()))?;
    let plain = hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        &hpke_info(nonce, &keypair.public),
        ct,
        &aad,
    )
    .map_err(|_| {
        SealError::Provision(
            "the key bundle does not open: it was sealed to another enclave key or session \
             nonce, or it was tampered with"
                .into(),
        )
    })?;
    let plain = Zeroizing::new(plain);
    KeyBundle::from_bytes(&plain)
}

/// The owner's side when the platform measures the enclave build itself (the
/// simulated platform reports the enclave's build measurement): the same as
/// [`provision_build`] with `expected_build = expected_measurement`.
pub fn provision(
    attested: &AttestedKey,
    nonce: &[u8],
    expected_measurement: &Measurement,
    policy: &Policy,
    bundle: &KeyBundle,
) -> Result<(Verified, Vec<u8>)> {
    provision_build(
        attested,
        nonce,
        expected_measurement,
        expected_measurement,
        policy,
        bundle,
    )
}

/// The owner's side: verifies `attested` (evidence for the platform's
/// `expected_measurement`, under `policy`, whose report data binds the
/// attested key, `nonce` and the enclave's build measurement
/// `expected_build`), then seals `bundle` to the attested key. Returns what
/// was verified and the sealed bundle. On a TDX or SEV-SNP guest the first is
/// the launch measurement of the guest image and the second what `plinius
/// enclave measurement` prints for the enclave's build.
///
/// Evidence whose report data binds only the key and nonce (the binding of
/// earlier builds, which any process in a TDX or SEV-SNP guest can obtain)
/// is refused up front with an error saying so, genuine or not.
pub fn provision_build(
    attested: &AttestedKey,
    nonce: &[u8],
    expected_measurement: &Measurement,
    expected_build: &Measurement,
    policy: &Policy,
    bundle: &KeyBundle,
) -> Result<(Verified, Vec<u8>)> {
    let unbound = report_data_without_measurement(&attested.public_key, nonce);
    if attested.evidence.claimed_report_data() == Some(unbound) {
        return Err(SealError::Evidence(format!(
            "{} evidence: its report data binds the enclave key and nonce but not the enclave \
             measurement, so it does not show that this enclave build asked for it (any \
             process on the platform can obtain such evidence); refusing",
            attested.evidence.backend()
        )));
    }
    let rd = report_data(&attested.public_key, nonce, expected_build);
    let verified = verify(&attested.evidence, expected_measurement, &rd, policy)?;
    let sealed = seal_bundle(bundle, &attested.public_key, nonce)?;
    Ok((verified, sealed))
}

/// Purpose label of a platform-sealed enclave session.
pub const PURPOSE_SESSION: &str = "plinius/enclave-session/v1";

/// The enclave's side of one provisioning exchange.
#[derive(Debug)]
pub struct EnclaveSession {
    keypair: EnclaveKeyPair,
    nonce: Vec<u8>,
}

impl EnclaveSession {
    /// Starts a session for the owner's `nonce`: a fresh key pair and evidence
    /// from `provider` binding its public key, the nonce and the enclave's
    /// `measurement` (the build identity of its trusted code).
    pub fn start(
        provider: &dyn EvidenceProvider,
        measurement: &Measurement,
        nonce: &[u8],
    ) -> Result<(Self, AttestedKey)> {
        let keypair = EnclaveKeyPair::generate();
        let evidence =
            provider.evidence(&report_data(&keypair.public_key(), nonce, measurement))?;
        let attested = AttestedKey {
            public_key: keypair.public_key(),
            evidence,
        };
        Ok((
            EnclaveSession {
                keypair,
                nonce: nonce.to_vec(),
            },
            attested,
        ))
    }

    /// Opens the bundle the owner sealed for this session.
    pub fn accept(&self, sealed_bundle: &[u8]) -> Result<KeyBundle> {
        open_bundle(&self.keypair, &self.nonce, sealed_bundle)
    }

    /// Seals the session (secret key and nonce) to the platform for
    /// `measurement`, so another process of the same enclave can accept the
    /// bundle ([`accept_bundle`]).
    pub fn seal_state(
        &self,
        sealer: &dyn PlatformSealer,
        measurement: &Measurement,
    ) -> Result<Vec<u8>> {
        let mut plain = Zeroizing::new(Vec::with_capacity(32 + self.nonce.len()));
        plain.extend_from_slice(&self.keypair.secret[..]);
        plain.extend_from_slice(&self.nonce);
        sealer.seal(measurement, PURPOSE_SESSION, &plain)
    }

    /// Restores a session sealed by [`EnclaveSession::seal_state`].
    pub fn unseal_state(
        sealer: &dyn PlatformSealer,
        measurement: &Measurement,
        state: &[u8],
    ) -> Result<Self> {
        let plain = sealer.unseal(measurement, PURPOSE_SESSION, state)?;
        if plain.len() < 32 {
            return Err(SealError::format("enclave session state", "too short"));
        }
        Ok(EnclaveSession {
            keypair: EnclaveKeyPair::from_secret(&plain[..32])?,
            nonce: plain[32..].to_vec(),
        })
    }

    /// The session's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.keypair.public_key()
    }
}

/// Unseals the session `state` (written by `enclave evidence`) and opens the
/// owner's sealed bundle with it.
pub fn accept_bundle(
    sealer: &dyn PlatformSealer,
    measurement: &Measurement,
    state: &[u8],
    sealed_bundle: &[u8],
) -> Result<KeyBundle> {
    EnclaveSession::unseal_state(sealer, measurement, state)?.accept(sealed_bundle)
}
