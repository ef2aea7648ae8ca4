//! File helpers: secret files created with mode 0600 (never world- or
//! group-readable, never silently overwritten), permission checks on read,
//! and the one durable atomic write ([`write_atomic`]) every file a crash
//! must not tear goes through.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use seal::{Result, SealError};
use zeroize::Zeroizing;

fn io_err(path: &Path, source: std::io::Error) -> SealError {
    SealError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How [`write_atomic`] creates and replaces the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicOptions {
    /// Permission bits of a new file (0o600 for secrets, 0o644 for public files).
    pub mode: u32,
    /// Replace an existing file (else [`SealError::Exists`]).
    pub overwrite: bool,
    /// How durable the write is.
    pub durability: Durability,
}

/// How durable an atomic write is once it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The data is fsynced before the rename and the directory after it: the
    /// new file survives a crash (the default).
    Full,
    /// The data is fsynced before the rename, the directory is not: after a
    /// crash the file holds the old or the new bytes, never a mix.
    NoDirSync,
}

impl AtomicOptions {
    /// A public file (0644), fully durable.
    pub fn public(overwrite: bool) -> Self {
        AtomicOptions {
            mode: 0o644,
            overwrite,
            durability: Durability::Full,
        }
    }

    /// A secret file (0600), fully durable.
    pub fn secret(overwrite: bool) -> Self {
        AtomicOptions {
            mode: 0o600,
            overwrite,
            durability: Durability::Full,
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary sibling created with
/// `opts.mode`, fsync, rename over `path`, then (with [`Durability::Full`])
/// fsync of the directory. After a crash `path` holds the old or the new
/// bytes, never a mix; a leftover temporary file is replaced next time.
/// Refuses to replace an existing file unless `opts.overwrite`.
pub fn write_atomic(path: &Path, bytes: &[u8], opts: AtomicOptions) -> Result<()> {
    refuse_existing(path, opts.overwrite)?;
    let tmp = tmp_path(path);
    // A leftover temporary file may have another owner or mode: start afresh.
    let _ = fs::remove_file(&tmp);
    write_synced(
        OpenOptions::new().create_new(true).mode(opts.mode),
        &tmp,
        bytes,
    )?;
    if let Err(e) = refuse_existing(path, opts.overwrite) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if opts.durability == Durability::Full {
        sync_parent_dir(path).map_err(|e| io_err(parent_dir(path), e))?;
    }
    Ok(())
}

/// Creates `path` with mode 0600 and writes `bytes` ([`write_atomic`]).
/// Refuses to overwrite an existing file unless `overwrite`.
pub fn write_secret_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic(path, bytes, AtomicOptions::secret(overwrite))
}

/// Reads a secret file, refusing it if group or others can access it.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SealError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(Zeroizing::new(fs::read(path).map_err(|e| io_err(path, e))?))
}

/// Writes a public (non-secret, e.g. sealed) file ([`write_atomic`],
/// mode 0644). Refuses to overwrite unless `overwrite`.
pub fn write_public_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic(path, bytes, AtomicOptions::public(overwrite))
}

/// [`SealError::Exists`] if `path` exists and may not be overwritten; an
/// error naming `path` if the directory it goes into does not exist.
fn refuse_existing(path: &Path, overwrite: bool) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(io_err(
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
    let mut f = opts.write(true).open(tmp).map_err(|e| io_err(tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(tmp, e))
}

/// The temporary sibling `path` is written through.
pub fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
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
        .map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", AtomicOptions::public(false)).unwrap();
        assert!(matches!(
            write_atomic(&p, b"two", AtomicOptions::public(false)),
            Err(SealError::Exists { .. })
        ));
        let opts = AtomicOptions {
            durability: Durability::NoDirSync,
            ..AtomicOptions::public(true)
        };
        write_atomic(&p, b"two", opts).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!tmp_path(&p).exists());
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let e = write_atomic(&dir.path().join("no/f"), b"x", AtomicOptions::public(true));
        assert!(e.unwrap_err().to_string().contains("does not exist"));
    }

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
