//! The model of a training job's pool, sealed for its owner (`plinius
//! export`): the enclave mirrors the model in and seals it, as Darknet
//! `.weights`, with the owner's export key. The owner opens it with
//! [`crate::owner::open_model`].

use std::path::PathBuf;

use hostio::fs::write_public_file;

use crate::error::{HostError, Result, in_pool};
use crate::job::{Job, JobOptions, SealedExport};
use crate::progress::Progress;

/// What an export needs.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The training job (pool, checkpoint, platform).
    pub job: JobOptions,
    /// Where to write the sealed model.
    pub out: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
    /// Development shortcut: the owner's key file, used only if the keys
    /// sealed in the pool do not unseal here (another platform or enclave build).
    pub key: Option<PathBuf>,
}

/// Writes the model of the job's pool, sealed for its owner, to `o.out`;
/// returns its iteration and bytes.
pub fn export_model(o: &ExportOptions, progress: &mut dyn Progress) -> Result<SealedExport> {
    if !o.force && o.out.exists() {
        return Err(HostError::file(
            &o.out,
            "already exists; pass --force to replace it",
        ));
    }
    let mut job = Job::resume_existing_with_key(&o.job, o.key.as_deref(), progress)?;
    let sealed = job.export().map_err(in_pool(&o.job.pool))?;
    write_public_file(&o.out, &sealed.bytes, o.force)?;
    Ok(sealed)
}

/// The line that says what an export wrote: the model of `pool` sealed in
/// `out`.
pub fn summary(pool: &std::path::Path, out: &std::path::Path, sealed: &SealedExport) -> String {
    format!(
        "exported the model of {} at iteration {} ({} bytes, sealed for the owner's model key): {}",
        pool.display(),
        sealed.iteration,
        sealed.bytes.len(),
        out.display()
    )
}
