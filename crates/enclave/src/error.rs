//! The errors of the trusted core. Every variant names what it is about.

/// Everything that can go wrong inside the enclave.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The persistent pool (header, allocator, bounds, space).
    #[error(transparent)]
    Pool(#[from] ptm::PtmError),
    /// Sealing or opening a record, a key blob or a bundle.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// The model's .cfg does not parse.
    #[error(transparent)]
    Cfg(#[from] nn::CfgError),
    /// Training or inference refused its input.
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    /// A pool structure (superblock, mirror directory, dataset area, a slot
    /// selector) is foreign, corrupt or inconsistent.
    #[error("{what}: {reason}")]
    Layout {
        /// The structure, e.g. `pool superblock`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pool holds the mirror of another model. Nothing was written.
    #[error(
        "{pool}: model fingerprint mismatch: the pool holds model {found}, but {origin} is model \
         {expected}; use the pool's own cfg or a new pool (the pool was not modified)"
    )]
    FingerprintMismatch {
        /// The pool.
        pool: String,
        /// The fingerprint stored in the pool (hex).
        found: String,
        /// The fingerprint of the cfg given (hex).
        expected: String,
        /// The cfg given.
        origin: String,
    },
    /// The pool was created with another mirror mode. Nothing was written.
    #[error(
        "{pool}: the pool was created with mirror mode {found}, not {requested} (the pool was not modified)"
    )]
    ModeMismatch {
        /// The pool.
        pool: String,
        /// The mode stored in the pool.
        found: crate::MirrorMode,
        /// The mode asked for.
        requested: crate::MirrorMode,
    },
    /// A mirror record does not open or does not hold what it must: tampered,
    /// moved, swapped, or from another iteration or model.
    #[error("mirror record {record} of iteration {iteration}: {reason}")]
    MirrorRecord {
        /// The record's name: `meta` or a state buffer's name (`0.conv.weights`).
        record: String,
        /// The iteration the image claims.
        iteration: u64,
        /// What is wrong.
        reason: String,
    },
    /// A dataset sample does not open (tampered, moved, relabelled or from
    /// another dataset). Nothing was trained on its batch.
    #[error("dataset {dataset}: sample {index}: {reason}; nothing was trained on this batch")]
    Sample {
        /// The dataset id (hex).
        dataset: String,
        /// The sample index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The training dataset is missing, incomplete, or does not fit the model.
    #[error("dataset: {0}")]
    Dataset(String),
    /// The host's checkpoint store (ssd mode) failed, or holds no checkpoint
    /// (the host's messages name the checkpoint file).
    #[error("{0}")]
    Checkpoint(String),
    /// The enclave was used in a way its state does not allow (e.g. training
    /// before attaching a pool).
    #[error("{0}")]
    Usage(String),
}

impl EnclaveError {
    pub(crate) fn layout(what: impl Into<String>, reason: impl Into<String>) -> Self {
        EnclaveError::Layout {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// The result type of the enclave crate.
pub type Result<T, E = EnclaveError> = std::result::Result<T, E>;

impl From<wire::WireError> for EnclaveError {
    fn from(e: wire::WireError) -> Self {
        EnclaveError::layout(e.what(), e.reason())
    }
}
