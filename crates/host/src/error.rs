//! The host library's error type: every variant names the file or thing it
//! is about and what went wrong, and keeps the underlying error as its source.

use std::path::{Path, PathBuf};

/// An error from a lower layer or a caller, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong on the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file operation on `path` failed.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What could not be done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file (or pool) is not usable as it is: it is missing something,
    /// holds something else, or contradicts the options given.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// An option or combination of options that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// `what` failed because of `source`.
    #[error("{what}")]
    Context {
        /// What was being done (often naming a file).
        what: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
    /// A child process failed or could not be run.
    #[error("{0}")]
    Child(String),
    /// An error of the sealing layer (keys, evidence, sealed files).
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// An error of the enclave.
    #[error(transparent)]
    Enclave(#[from] enclave::EnclaveError),
    /// An error of the persistent memory pool.
    #[error(transparent)]
    Ptm(#[from] ptm::PtmError),
    /// A network error.
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    /// A Darknet .cfg error (file, line, section).
    #[error(transparent)]
    Cfg(#[from] nn::CfgError),
    /// An MNIST IDX file error.
    #[error(transparent)]
    Idx(#[from] nn::idx::IdxError),
    /// A Darknet .weights file error.
    #[error(transparent)]
    Weights(#[from] nn::weights::WeightsError),
    /// A file's header or fields do not decode (the message names the file).
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    /// An error handed back by a caller's callback.
    #[error(transparent)]
    Caller(BoxError),
}

/// The host library's result.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

impl HostError {
    /// A closure turning an I/O error on `path` into [`HostError::Io`].
    pub fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> HostError {
        let path = path.to_path_buf();
        let what = what.to_string();
        move |source| HostError::Io { path, what, source }
    }

    /// [`HostError::File`] about `path`.
    pub fn file(path: &Path, what: impl Into<String>) -> HostError {
        HostError::File {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// Adds context to an error (as [`HostError::Context`]) or to a missing
/// value (as [`HostError::Invalid`]).
pub trait Context<T> {
    /// On error, wraps it with `what()` as its context.
    fn with_context<C: std::fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T>;
    /// On error, wraps it with `what` as its context.
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: Into<BoxError>> Context<T> for std::result::Result<T, E> {
    fn with_context<C: std::fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| HostError::Context {
            what: what().to_string(),
            source: e.into(),
        })
    }

    fn context(self, what: &str) -> Result<T> {
        self.with_context(|| what)
    }
}

impl<T> Context<T> for Option<T> {
    fn with_context<C: std::fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| HostError::Invalid(what().to_string()))
    }

    fn context(self, what: &str) -> Result<T> {
        self.with_context(|| what)
    }
}

/// Returns early with a [`HostError::Invalid`] made from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::HostError::Invalid(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// Returns early with a [`HostError::Invalid`] unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::error::bail!($($arg)*);
        }
    };
}
pub(crate) use ensure;

/// Names the pool file `path` in an error about what the pool holds: the
/// trusted crates never see paths, so the host adds it. An error whose
/// message already names the file is returned as it is.
pub fn in_pool<E: Into<HostError>>(path: &Path) -> impl FnOnce(E) -> HostError + '_ {
    move |e| {
        let e = e.into();
        let p = path.display().to_string();
        if chain(&e).contains(&p) {
            e
        } else {
            HostError::Context {
                what: format!("pool {p}"),
                source: e.into(),
            }
        }
    }
}

/// The error and its causes joined by `: `, skipping a cause whose message
/// its parent's already ends with (errors that name a path often print their
/// source too, which would then be repeated).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(e);
    while let Some(cause) = cur {
        let s = cause.to_string();
        if out.is_empty() || !out.ends_with(&s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&s);
        }
        cur = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("a.bin: {source}")]
    struct PathError {
        source: std::io::Error,
    }

    #[test]
    fn a_source_already_printed_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e: Result<()> = Err(PathError { source: io }).with_context(|| "loading the model");
        assert_eq!(
            chain(&e.unwrap_err()),
            "loading the model: a.bin: no such file"
        );
    }

    #[test]
    fn distinct_causes_are_all_printed() {
        let e: Result<()> = Err(HostError::Invalid("bad magic".into())).with_context(|| "x.pool");
        assert_eq!(chain(&e.unwrap_err()), "x.pool: bad magic");
    }

    #[test]
    fn pool_errors_name_the_pool_once() {
        let e = in_pool(Path::new("d/j.pool"))(HostError::Invalid("superblock: bad".into()));
        assert_eq!(chain(&e), "pool d/j.pool: superblock: bad");
        let again = in_pool(Path::new("d/j.pool"))(e);
        assert_eq!(chain(&again), "pool d/j.pool: superblock: bad");
    }

    #[test]
    fn io_errors_name_the_path_and_keep_the_cause() {
        let e = HostError::io(Path::new("d/f"), "cannot read")(std::io::Error::other("boom"));
        assert_eq!(chain(&e), "d/f: cannot read: boom");
    }
}
