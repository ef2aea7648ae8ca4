//! The one home of what every Plinius on-disk format shares: a header check
//! ([`Header`]: magic, then a format version), the header checksum
//! ([`checksum8`]) and a byte cursor over slices ([`Reader`], [`Writer`]),
//! whose errors ([`WireError`]) name the thing read and what is wrong.
//!
//! Trusted and tiny: no I/O, no allocation beyond the writer's buffer. All
//! integers are little endian.
// Unit tests may do I/O (temporary files, printing).
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        clippy::disallowed_macros
    )
)]
#![warn(missing_docs)]

mod cursor;
mod header;

pub use cursor::{Reader, Writer};
pub use header::{Header, VersionWidth, checksum_ok, checksum8};

/// What is wrong with a byte format. [`WireError::what`] names the thing
/// (file, blob, record), [`WireError::reason`] says what is wrong with it;
/// the display is `"{what}: {reason}"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with the format's magic (or are too short to
    /// hold its header).
    #[error("{what}: {reason}")]
    Foreign {
        /// The thing read.
        what: String,
        /// The format's own wording (e.g. "not a Plinius key file (bad magic)").
        reason: &'static str,
    },
    /// Another version of the format.
    #[error("{what}: {label} {found}, this build reads {supported}")]
    Version {
        /// The thing read.
        what: String,
        /// How the format calls its version ("format version", "layout version").
        label: &'static str,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The bytes end inside a field.
    #[error("{what}: truncated {field} (needs {need} bytes, {left} left)")]
    Truncated {
        /// The thing read.
        what: String,
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// Bytes after the last field.
    #[error("{what}: trailing bytes ({extra} after the last field)")]
    Trailing {
        /// The thing read.
        what: String,
        /// How many.
        extra: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: {field} {reason}")]
    Invalid {
        /// The thing read.
        what: String,
        /// The field.
        field: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

impl WireError {
    /// The thing the error is about.
    pub fn what(&self) -> &str {
        match self {
            WireError::Foreign { what, .. }
            | WireError::Version { what, .. }
            | WireError::Truncated { what, .. }
            | WireError::Trailing { what, .. }
            | WireError::Invalid { what, .. } => what,
        }
    }

    /// What is wrong, without the name of the thing.
    pub fn reason(&self) -> String {
        let full = self.to_string();
        full.strip_prefix(self.what())
            .and_then(|r| r.strip_prefix(": "))
            .map_or(full.clone(), str::to_string)
    }
}

/// The `Result` of this crate.
pub type Result<T, E = WireError> = std::result::Result<T, E>;
