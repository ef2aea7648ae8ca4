//! The errors of the `ptm` crate.

use std::path::PathBuf;

/// Everything that can go wrong with a pool. Messages name the pool (its file, or
/// `<memory>` / `<simulated PM>` for the non-file back-ends) and the problem.
#[derive(Debug, thiserror::Error)]
pub enum PtmError {
    /// The file does not start with the pool magic: it is not a pool (or was never
    /// completely created).
    #[error("{path}: not a ptm pool (bad magic)")]
    NotAPool {
        /// The pool file.
        path: PathBuf,
    },
    /// The file is shorter than its header says (or too short to hold a header).
    #[error("{path}: truncated pool: {actual} bytes, expected {expected}")]
    Truncated {
        /// The pool file.
        path: PathBuf,
        /// Its actual length.
        actual: u64,
        /// The length the header (or the minimum header size) requires.
        expected: u64,
    },
    /// The file is longer than its header says.
    #[error("{path}: pool file is {actual} bytes but its header describes {expected}")]
    SizeMismatch {
        /// The pool file.
        path: PathBuf,
        /// Its actual length.
        actual: u64,
        /// The length the header describes.
        expected: u64,
    },
    /// The pool was written by another format version.
    #[error("{path}: pool format version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// The pool file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build understands.
        expected: u32,
    },
    /// The header's static fields do not match their checksum.
    #[error("{path}: pool header checksum mismatch (header corrupted)")]
    HeaderChecksum {
        /// The pool file.
        path: PathBuf,
    },
    /// The header holds impossible values (sizes, state word) despite a good checksum.
    #[error("{path}: bad pool header: {what}")]
    BadHeader {
        /// The pool file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The allocator's metadata in main is inconsistent.
    #[error("{path}: pool heap corrupted: {what}")]
    CorruptHeap {
        /// The pool file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Another process (or another handle in this process) has the pool open.
    #[error("{path}: pool is locked by another opener")]
    Locked {
        /// The pool file.
        path: PathBuf,
    },
    /// `create` was asked to create a file that exists, without `overwrite`.
    #[error("{path}: file exists; refusing to overwrite it (ask for overwrite explicitly)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The pool has no free block large enough; the transaction is rolled back.
    #[error("{path}: pool out of space: no free block of {requested} bytes")]
    OutOfSpace {
        /// The pool.
        path: PathBuf,
        /// The requested allocation size in bytes.
        requested: u64,
    },
    /// An access outside the region it addresses.
    #[error("{path}: access out of bounds: offset {off} + {len} bytes > {limit}")]
    OutOfBounds {
        /// The pool.
        path: PathBuf,
        /// The offset asked for.
        off: u64,
        /// The length asked for.
        len: u64,
        /// The size of the region.
        limit: u64,
    },
    /// A typed slice was asked at an offset not aligned for its type.
    #[error("{path}: offset {off} is not aligned to {align} bytes")]
    Misaligned {
        /// The pool.
        path: PathBuf,
        /// The offset asked for.
        off: u64,
        /// The required alignment.
        align: usize,
    },
    /// `free` was given an offset that is not an allocated block.
    #[error("{path}: free of offset {off}, which is not an allocated block")]
    BadFree {
        /// The pool.
        path: PathBuf,
        /// The offset given.
        off: u64,
    },
    /// A root slot index out of range.
    #[error("root slot {index} out of range (there are {count})")]
    BadRoot {
        /// The index given.
        index: usize,
        /// The number of root slots.
        count: usize,
    },
    /// A requested pool size is unusable.
    #[error("{path}: bad pool size: {what}")]
    BadSize {
        /// The pool.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The requested flush strategy cannot run here.
    #[error("flush strategy {strategy} is not supported here: {why}")]
    UnsupportedFlush {
        /// The strategy's name.
        strategy: String,
        /// Why not.
        why: String,
    },
    /// A flush strategy name that does not exist.
    #[error(
        "unknown flush strategy {0:?} (expected clwb, clflushopt, clflush, msync, eadr or none)"
    )]
    UnknownFlush(String),
    /// An operating-system call on the pool file failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The pool file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of the `ptm` crate.
pub type Result<T, E = PtmError> = std::result::Result<T, E>;
