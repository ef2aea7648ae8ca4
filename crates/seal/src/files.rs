//! File helpers: secret files created with mode 0600 (never world- or
//! group-readable, never silently overwritten), permission checks on read,
//! and atomic writes of public files.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Result, SealError};

/// Creates `path` with mode 0600 and writes `bytes`. Refuses to overwrite an
/// existing file unless `overwrite` is true (then the file is replaced
/// atomically through a 0600 temporary file in the same directory).
pub fn write_secret_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    refuse_existing(path, overwrite)?;
    let tmp = tmp_path(path);
    let _ = fs::remove_file(&tmp);
    write_synced(OpenOptions::new().create_new(true).mode(0o600), &tmp, bytes)?;
    if let Err(e) = refuse_existing(path, overwrite) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).map_err(|e| SealError::io(path, e))
}

/// Reads a secret file, refusing it if group or others can access it.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let meta = fs::metadata(path).map_err(|e| SealError::io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SealError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(Zeroizing::new(
        fs::read(path).map_err(|e| SealError::io(path, e))?,
    ))
}

/// Writes a public (non-secret, e.g. sealed) file atomically: temporary file,
/// fsync, rename. Refuses to overwrite unless `overwrite`.
pub fn write_public_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    refuse_existing(path, overwrite)?;
    let tmp = tmp_path(path);
    write_synced(
        OpenOptions::new().create(true).truncate(true).mode(0o644),
        &tmp,
        bytes,
    )?;
    fs::rename(&tmp, path).map_err(|e| SealError::io(path, e))
}

/// [`SealError::Exists`] if `path` exists and may not be overwritten; an
/// error naming `path` if the directory it goes into does not exist.
fn refuse_existing(path: &Path, overwrite: bool) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(SealError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the directory {} does not exist", dir.display()),
            ),
        ));
    }
    if !overwrite && path.exists() {
        return Err(SealError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Opens `tmp` for writing with `opts` (which say how it is created), writes
/// `bytes` and fsyncs it.
fn write_synced(opts: &mut OpenOptions, tmp: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = opts
        .write(true)
        .open(tmp)
        .map_err(|e| SealError::io(tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| SealError::io(tmp, e))
}

/// The temporary sibling `path` is written through.
pub fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Fsyncs the directory holding `path` (`.` for a bare file name), so that a
/// rename into it is durable.
pub fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    fs::File::open(parent_dir(path)).and_then(|d| d.sync_all())
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates directory `dir` (and parents) with mode 0700 for the last level.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SealError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_0600_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_secret_file(&p, b"secret", false).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            write_secret_file(&p, b"other", false),
            Err(SealError::Exists { .. })
        ));
        assert_eq!(&read_secret_file(&p).unwrap()[..], b"secret");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_secret_file(&p).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(matches!(
            read_secret_file(&dir.path().join("missing")),
            Err(SealError::Io { .. })
        ));
    }
}
