//! Where the experiments' pools go (a fresh directory on emulated PM,
//! /dev/shm, when present) and a pool holding an imported sealed dataset.

use std::path::{Path, PathBuf};

use crate::error::{Context, ExperimentError, Result};

/// The directory fresh pool directories go in: `given` (created if needed),
/// else /dev/shm (emulated PM) when present, else the temporary directory.
fn pool_base(given: Option<&Path>) -> Result<PathBuf> {
    Ok(match given {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(ExperimentError::io(d, "cannot create"))?;
            d.to_path_buf()
        }
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    })
}

/// A fresh directory for pools: inside `given`, else in /dev/shm (emulated
/// PM) when present, else in the temporary directory. Removed when dropped.
pub fn pool_tempdir(given: Option<&Path>) -> Result<tempfile::TempDir> {
    let base = pool_base(given)?;
    tempfile::Builder::new()
        .prefix("plinius-exp-")
        .tempdir_in(&base)
        .map_err(ExperimentError::io(base, "cannot create a pool directory"))
}

/// A fresh temporary directory for a benchmark: inside `dir` if given, else
/// in /dev/shm when `prefer_shm` and present, else in the temporary directory.
pub fn bench_tempdir(dir: Option<&Path>, prefer_shm: bool) -> Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix("plinius-bench-");
    let d = match dir {
        Some(d) => b.tempdir_in(d),
        None if prefer_shm && Path::new("/dev/shm").is_dir() => {
            b.tempdir_in("/dev/shm").or_else(|_| b.tempdir())
        }
        None => b.tempdir(),
    };
    d.map_err(ExperimentError::io(
        dir.unwrap_or(Path::new("(temporary directory)")),
        "cannot create a temporary directory for the benchmark",
    ))
}

/// Creates the pool of `plan` at `path` and imports the sealed dataset `data`
/// into it, silently (the benchmarks' setup). If the import fails, the new
/// pool file is removed.
pub fn pool_with_dataset(path: &Path, plan: &enclave::PoolPlan, data: &Path) -> Result<ptm::Pool> {
    let mut pool = ptm::Pool::create(path, plan.pool_size(), &ptm::PoolOptions::default())
        .context_with(|| format!("creating the pool {}", path.display()))?;
    let imported = host::import::import_file(
        &mut pool,
        plan.dataset_area,
        data,
        host::import::ImportOptions::default(),
        &mut host::NoProgress,
    );
    if let Err(e) = imported {
        drop(pool);
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(pool)
}

/// Removes `path` when dropped (a benchmark's pool or checkpoint file).
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Creates the output directory `out`.
pub fn out_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(ExperimentError::io(out, "cannot create"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_are_made_where_asked_and_removed() {
        let base = tempfile::tempdir().unwrap();
        let inner = base.path().join("a/b");
        let d = pool_tempdir(Some(&inner)).unwrap();
        assert!(d.path().starts_with(&inner) && d.path().is_dir());
        let p = d.path().to_path_buf();
        drop(d);
        assert!(!p.exists());
        let b = bench_tempdir(Some(base.path()), true).unwrap();
        assert!(b.path().starts_with(base.path()));
        let f = base.path().join("x.pool");
        std::fs::write(&f, b"x").unwrap();
        drop(RemoveOnDrop(f.clone()));
        assert!(!f.exists());
        out_dir(&base.path().join("out/deep")).unwrap();
        assert!(base.path().join("out/deep").is_dir());
    }
}
