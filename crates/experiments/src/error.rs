//! The errors of the experiments: bad options, files that cannot be read or
//! written, a check an experiment makes on its own results, and the errors of
//! the crates below, each naming what it is about.

use std::path::PathBuf;

/// Everything that can make an experiment fail.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// An option is out of range or inconsistent (the message names the flag).
    #[error("{0}")]
    Options(String),
    /// A file or directory could not be read, written or created.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. `cannot create`.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The experiment ran, but its results fail a check it makes (a lost
    /// iteration, a final state that differs, a trace that ended too early).
    #[error("{0}")]
    Check(String),
    /// A step failed; `what` says which (the cause follows).
    #[error("{what}")]
    Context {
        /// The step, e.g. `loading MNIST from data/mnist`.
        what: String,
        /// The cause.
        #[source]
        source: Box<ExperimentError>,
    },
    /// A spot trace failed to load.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    /// The persistent pool.
    #[error(transparent)]
    Pool(#[from] ptm::PtmError),
    /// Sealing, keys, platforms.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// The trusted core.
    #[error(transparent)]
    Enclave(#[from] enclave::EnclaveError),
    /// A model's .cfg does not parse.
    #[error(transparent)]
    Cfg(#[from] nn::CfgError),
    /// Training refused its input.
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    /// MNIST could not be read.
    #[error(transparent)]
    Idx(#[from] nn::idx::IdxError),
    /// The host library (pools, import, jobs, child processes).
    #[error(transparent)]
    Host(#[from] host::HostError),
    /// The charts, which report `anyhow` errors.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The result of an experiment step.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;

impl ExperimentError {
    /// An I/O error on `path` while doing `what`.
    pub fn io(path: impl Into<PathBuf>, what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ExperimentError::Io { path, what, source }
    }
}

/// Names the step a result came from (`.context(...)` of the experiments).
pub trait Context<T> {
    /// On error, wraps it in [`ExperimentError::Context`] with `what()`.
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<ExperimentError>> Context<T> for std::result::Result<T, E> {
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ExperimentError::Context {
            what: what(),
            source: Box::new(e.into()),
        })
    }
}

/// Fails with [`ExperimentError::Options`] unless `cond` holds.
pub(crate) fn require(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(ExperimentError::Options(msg()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_thing_and_keep_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = ExperimentError::io("a/b.csv", "cannot create")(io);
        assert_eq!(e.to_string(), "a/b.csv: cannot create");
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "no such file"
        );
        let r: Result<()> = Err(ExperimentError::Options("--runs must be at least 1".into()));
        let e = r.context_with(|| "bench mirror".into()).unwrap_err();
        assert_eq!(e.to_string(), "bench mirror");
        assert!(require(true, || unreachable!()).is_ok());
        assert!(require(false, || "--x".into()).is_err());
    }
}
