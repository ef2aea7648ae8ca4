//! The enclave's keys: the owner's [`KeyBundle`] and the record keys prepared
//! from it. Three ways in, all ending in the same [`Keys`]:
//!
//! - provisioned ([`Keys::accept`]): the owner verified this enclave's
//!   evidence and sealed the bundle to its ephemeral key (HPKE); the session
//!   state that holds the ephemeral secret was sealed to the platform;
//! - restarted ([`Keys::from_platform_blob`], [`Keys::from_pool`]): the bundle
//!   this enclave sealed to its platform and measurement and stored in the pool;
//! - the development shortcut ([`Keys::dev_provision`]): the same evidence
//!   and provisioning steps run in-process against the simulated platform,
//!   as if the owner sat beside the host.
//!
//! Keys never leave the enclave in clear: `Debug` shows fingerprints only and
//! the platform blob ([`Keys::platform_blob`]) is sealed.

use crate::error::{EnclaveError, Result};
use crate::layout::{self, KEYS_BLOB_MAX};
use ptm::{PmBackend, Pool};
use seal::evidence::{EvidenceProvider, Measurement, Policy};
use seal::platform::{PlatformSealer, seal_to_platform, unseal_from_platform};
use seal::provision::{EnclaveSession, accept_bundle, provision};
use seal::{KeyBundle, SealKey};

/// The keys held inside the enclave.
pub struct Keys {
    bundle: KeyBundle,
    pub(crate) mirror: SealKey,
    pub(crate) dataset: SealKey,
    pub(crate) export: SealKey,
    platform_blob: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keys({:?}, {:?})",
            self.bundle.dataset, self.bundle.model
        )
    }
}

/// This enclave's measurement as `seal` represents it.
pub fn measurement() -> Measurement {
    Measurement(crate::MEASUREMENT)
}

impl Keys {
    /// Takes a bundle already inside the enclave and seals it to `sealer` for
    /// restarts (the blob goes into the pool at attach).
    pub fn from_bundle(bundle: KeyBundle, sealer: &dyn PlatformSealer) -> Result<Keys> {
        let blob = seal_to_platform(sealer, &bundle, &measurement())?;
        Self::with_blob(bundle, blob)
    }

    fn with_blob(bundle: KeyBundle, platform_blob: Vec<u8>) -> Result<Keys> {
        if platform_blob.len() > KEYS_BLOB_MAX {
            return Err(EnclaveError::Usage(format!(
                "the platform-sealed key blob is {} bytes, more than the {KEYS_BLOB_MAX} the \
                 pool reserves",
                platform_blob.len()
            )));
        }
        Ok(Keys {
            mirror: bundle.model.mirror_key(),
            dataset: bundle.dataset.record_key(),
            export: bundle.model.export_key(),
            bundle,
            platform_blob,
        })
    }

    /// The provisioned path: unseals the session `state` (written when this
    /// enclave produced its evidence) and opens the owner's `sealed_bundle`.
    pub fn accept(
        sealer: &dyn PlatformSealer,
        session_state: &[u8],
        sealed_bundle: &[u8],
    ) -> Result<Keys> {
        let bundle = accept_bundle(sealer, &measurement(), session_state, sealed_bundle)?;
        Self::from_bundle(bundle, sealer)
    }

    /// The provisioned path within one process: opens the owner's
    /// `sealed_bundle` with a live session.
    pub fn accept_session(
        session: &EnclaveSession,
        sealed_bundle: &[u8],
        sealer: &dyn PlatformSealer,
    ) -> Result<Keys> {
        Self::from_bundle(session.accept(sealed_bundle)?, sealer)
    }

    /// The restart path: unseals a blob made by [`Keys::platform_blob`].
    pub fn from_platform_blob(sealer: &dyn PlatformSealer, blob: &[u8]) -> Result<Keys> {
        let bundle = unseal_from_platform(sealer, blob, &measurement())?;
        Self::with_blob(bundle, blob.to_vec())
    }

    /// The restart path from a pool: unseals the key blob the pool's
    /// superblock points to.
    pub fn from_pool<B: PmBackend>(pool: &Pool<B>, sealer: &dyn PlatformSealer) -> Result<Keys> {
        let sb = layout::read_superblock(pool)?.ok_or_else(|| {
            EnclaveError::Usage(
                "the pool has no superblock yet, so no sealed keys: provision the keys (--bundle \
                 or --key) for its first start"
                    .into(),
            )
        })?;
        let blob = pool.read(|v| {
            v.bytes(sb.sealed_keys.off, sb.sealed_keys.len as usize)
                .map(<[u8]>::to_vec)
        })?;
        Self::from_platform_blob(sealer, &blob).map_err(|e| match e {
            EnclaveError::Seal(s) => EnclaveError::Seal(s.for_record(
                "the keys sealed in the pool (another platform, another enclave build, or tampered)",
            )),
            other => other,
        })
    }

    /// The development shortcut: evidence from `provider` (the simulated
    /// platform's, for this enclave's measurement), verified under `policy`
    /// as the owner would, the owner's `bundle` sealed to the attested key and
    /// accepted, all in-process. Insecure by construction (the owner's key is
    /// on the host); for development, CI and the demo.
    pub fn dev_provision(
        provider: &dyn EvidenceProvider,
        policy: &Policy,
        bundle: &KeyBundle,
        sealer: &dyn PlatformSealer,
    ) -> Result<Keys> {
        let mut nonce = [0u8; 32];
        seal::key::random_fill(&mut nonce)?;
        let (session, attested) = EnclaveSession::start(provider, &measurement(), &nonce)?;
        let (_verified, sealed) = provision(&attested, &nonce, &measurement(), policy, bundle)?;
        Self::accept_session(&session, &sealed, sealer)
    }

    /// The bundle sealed to the platform for this enclave's measurement
    /// (safe to store outside: it opens only here).
    pub fn platform_blob(&self) -> &[u8] {
        &self.platform_blob
    }

    /// The bundle sealed anew to `sealer` for this enclave's measurement
    /// (a blob for [`Keys::from_platform_blob`]).
    pub(crate) fn seal_for(&self, sealer: &dyn PlatformSealer) -> Result<Vec<u8>> {
        let blob = seal_to_platform(sealer, &self.bundle, &measurement())?;
        if blob.len() > KEYS_BLOB_MAX {
            return Err(EnclaveError::Usage(format!(
                "the platform-sealed key blob is {} bytes, more than the {KEYS_BLOB_MAX} the \
                 pool reserves",
                blob.len()
            )));
        }
        Ok(blob)
    }

    /// Whether `other` holds the same model and dataset keys.
    pub(crate) fn same_keys(&self, other: &Keys) -> bool {
        self.model_fingerprint() == other.model_fingerprint()
            && self.dataset_fingerprint() == other.dataset_fingerprint()
    }

    /// Fingerprint of the model key (safe to print).
    pub fn model_fingerprint(&self) -> String {
        self.bundle.model.key().fingerprint()
    }

    /// Fingerprint of the dataset key (safe to print).
    pub fn dataset_fingerprint(&self) -> String {
        self.bundle.dataset.key().fingerprint()
    }

    #[cfg(test)]
    pub(crate) fn bundle(&self) -> &KeyBundle {
        &self.bundle
    }
}
