//! The error type of the `seal` crate.

use std::path::PathBuf;

/// Everything that can go wrong while sealing, opening, loading keys,
/// attesting or provisioning. Every variant names the thing it is about.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A record failed authentication: wrong key, wrong associated data
    /// (moved, swapped or replayed record) or tampered bytes. No plaintext was
    /// released.
    #[error(
        "{record}: authentication failed (wrong key, record moved or replayed, or bytes tampered)"
    )]
    Open {
        /// Which record: a caller label, or a description of its associated data.
        record: String,
    },
    /// A buffer does not have the length the operation needs.
    #[error("{what}: length {actual} bytes, expected {expected}")]
    Length {
        /// What the buffer is.
        what: String,
        /// Its length.
        actual: usize,
        /// The length required.
        expected: usize,
    },
    /// The crypto library refused to seal (should not happen with valid lengths).
    #[error("sealing {what} failed in the crypto library")]
    Seal {
        /// What was being sealed.
        what: String,
    },
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A file or blob is not what it claims to be: wrong magic, version,
    /// checksum, truncated, or inconsistent fields.
    #[error("{what}: {reason}")]
    Format {
        /// The file or blob.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key file's permissions let other users read it.
    #[error(
        "{path}: key file is accessible by group or others (mode {mode:o}); run `chmod 600` on it"
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file that must not be overwritten already exists.
    #[error("{path}: already exists; refusing to overwrite it")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Attestation evidence was rejected.
    #[error("evidence rejected: {0}")]
    Evidence(String),
    /// HPKE key provisioning failed.
    #[error("key provisioning: {0}")]
    Provision(String),
}

impl SealError {
    /// Replaces the record description of an [`SealError::Open`] error with
    /// `label` (other errors are returned unchanged).
    pub fn for_record(self, label: impl Into<String>) -> Self {
        match self {
            SealError::Open { .. } => SealError::Open {
                record: label.into(),
            },
            other => other,
        }
    }

    pub(crate) fn format(what: impl Into<String>, reason: impl Into<String>) -> Self {
        SealError::Format {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl From<wire::WireError> for SealError {
    fn from(e: wire::WireError) -> Self {
        SealError::Format {
            what: e.what().to_string(),
            reason: e.reason(),
        }
    }
}

/// The `Result` of this crate.
pub type Result<T, E = SealError> = std::result::Result<T, E>;
