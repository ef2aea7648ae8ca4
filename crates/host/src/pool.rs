//! A job's pool file: which of its three states it is in, and its creation.
//!
//! A new pool is created under a temporary name and renamed into place once
//! formatted, so a crash during creation never leaves a half-made file under
//! the pool's name. A crash before the enclave's first mirror leaves a pool
//! with no superblock ([`PoolState::Unfinished`]), which the next start
//! completes. An existing pool is never re-created.

use std::path::Path;

use enclave::layout::{self, Superblock};
use ptm::{Pool, PoolOptions};

use crate::error::{HostError, Result, in_pool};

/// What is at a pool path.
pub enum PoolState {
    /// No file: a job's first start creates it.
    Missing,
    /// A pool whose job's first start did not finish: created (and perhaps
    /// holding part of its dataset), but no superblock and no mirror yet.
    Unfinished(Pool),
    /// A pool holding a job: its superblock (mirror mode, seed, areas).
    Ready(Pool, Superblock),
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolState::Missing => write!(f, "Missing"),
            PoolState::Unfinished(_) => write!(f, "Unfinished"),
            PoolState::Ready(_, sb) => write!(f, "Ready({sb:?})"),
        }
    }
}

impl PoolState {
    /// Opens the pool at `path` (if any) and tells its state. A file that is
    /// not a pool, or a pool with a corrupt superblock, is an error.
    pub fn of(path: &Path) -> Result<PoolState> {
        if !path.exists() {
            return Ok(PoolState::Missing);
        }
        let pool = Pool::open(path, &PoolOptions::default())?;
        Ok(
            match layout::read_superblock(&pool).map_err(in_pool(path))? {
                Some(sb) => PoolState::Ready(pool, sb),
                None => PoolState::Unfinished(pool),
            },
        )
    }
}

/// Creates the pool file at `path` with `size`: formatted under a temporary
/// name, then renamed into place (and the directory synced), then opened.
pub fn create_pool(path: &Path, size: ptm::PoolSize) -> Result<Pool> {
    let opts = PoolOptions::default();
    crate::ckpt::check_out_dir(path, "cannot create the pool")?;
    let tmp = crate::ckpt::tmp_path(path);
    // A leftover from a crash during an earlier creation holds nothing.
    if tmp.exists() {
        std::fs::remove_file(&tmp)
            .map_err(HostError::io(&tmp, "cannot remove stale temporary pool"))?;
    }
    let pool = Pool::create(
        &tmp,
        size,
        &PoolOptions {
            overwrite: false,
            ..opts.clone()
        },
    )?;
    drop(pool);
    if path.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Err(HostError::file(
            path,
            "appeared while the pool was being created; not replacing it",
        ));
    }
    std::fs::rename(&tmp, path)
        .map_err(HostError::io(path, "cannot rename the new pool into place"))?;
    hostio::fs::sync_parent_dir(path).map_err(HostError::io(
        hostio::fs::parent_dir(path),
        "fsync of the directory failed",
    ))?;
    Ok(Pool::open(path, &opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pool_and_a_created_one() {
        let _g = crate::fork_guard();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.pool");
        assert!(matches!(PoolState::of(&p).unwrap(), PoolState::Missing));
        let size = ptm::PoolSize {
            main: 16 << 10,
            raw: 8 << 10,
        };
        drop(create_pool(&p, size).unwrap());
        assert!(!crate::ckpt::tmp_path(&p).exists());
        // Created, but no enclave attached yet: the first start did not finish.
        assert!(matches!(
            PoolState::of(&p).unwrap(),
            PoolState::Unfinished(_)
        ));
        // An existing pool is never re-created.
        let e = crate::error::chain(&create_pool(&p, size).unwrap_err());
        assert!(e.contains("not replacing it"), "{e}");
        assert!(matches!(
            PoolState::of(&p).unwrap(),
            PoolState::Unfinished(_)
        ));
    }

    #[test]
    fn a_file_that_is_not_a_pool_is_an_error() {
        let _g = crate::fork_guard();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pool");
        std::fs::write(&p, vec![7u8; 8192]).unwrap();
        let e = crate::error::chain(&PoolState::of(&p).unwrap_err());
        assert!(e.contains("x.pool"), "{e}");
    }
}
