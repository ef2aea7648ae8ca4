//! File helpers: secret files created with mode 0600 (never world- or
//! group-readable, never silently overwritten), permission checks on read,
//! and the one durable atomic write ([`write_atomic`]) every file a crash
//! must not tear goes through.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Instant;

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

/// Time spent in each step of one [`write_atomic_timed`] or
/// [`write_atomic_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtomicTimings {
    /// Bytes written.
    pub bytes: u64,
    /// Nanoseconds creating and writing the temporary file.
    pub write_ns: u64,
    /// Nanoseconds in the `fsync` of the temporary file.
    pub fsync_ns: u64,
    /// Nanoseconds in the `rename` and (with [`Durability::Full`]) the
    /// directory `fsync`.
    pub rename_ns: u64,
}

/// Writes `bytes` to `path` atomically: a temporary sibling created with
/// `opts.mode`, fsync, rename over `path`, then (with [`Durability::Full`])
/// fsync of the directory. After a crash `path` holds the old or the new
/// bytes, never a mix; a leftover temporary file is replaced next time.
/// Refuses to replace an existing file unless `opts.overwrite`.
pub fn write_atomic(path: &Path, bytes: &[u8], opts: AtomicOptions) -> Result<()> {
    write_atomic_timed(path, &[bytes], opts).map(drop)
}

/// [`write_atomic`] of the concatenation of `parts` (e.g. a frame header and
/// its payload, without copying them together), returning the time of each
/// step.
pub fn write_atomic_timed(
    path: &Path,
    parts: &[&[u8]],
    opts: AtomicOptions,
) -> Result<AtomicTimings> {
    let tmp = tmp_path(path);
    write_atomic_with(path, opts, |w| {
        parts
            .iter()
            .try_for_each(|p| w.write_all(p))
            .map_err(|e| io_err(&tmp, e))
    })
}

/// [`write_atomic`] of whatever `fill` writes into the (buffered) temporary
/// file: for files streamed out piece by piece. An error of `fill` removes
/// the temporary file and leaves `path` as it was. Returns the time of each
/// step (`write_ns` includes `fill`).
pub fn write_atomic_with<E: From<SealError>>(
    path: &Path,
    opts: AtomicOptions,
    fill: impl FnOnce(&mut dyn Write) -> std::result::Result<(), E>,
) -> std::result::Result<AtomicTimings, E> {
    refuse_existing(path, opts.overwrite)?;
    let tmp = tmp_path(path);
    let t0 = Instant::now();
    // A leftover temporary file may have another owner or mode: start afresh.
    let _ = fs::remove_file(&tmp);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(opts.mode)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    let mut w = Counting {
        inner: BufWriter::with_capacity(1 << 20, f),
        bytes: 0,
    };
    let filled = fill(&mut w);
    let bytes = w.bytes;
    let written = filled.and_then(|()| {
        w.inner
            .into_inner()
            .map_err(|e| io_err(&tmp, e.into_error()).into())
    });
    let f = match written {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let t1 = Instant::now();
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    drop(f);
    let t2 = Instant::now();
    if let Err(e) = refuse_existing(path, opts.overwrite) {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if opts.durability == Durability::Full {
        sync_parent_dir(path).map_err(|e| io_err(parent_dir(path), e))?;
    }
    let t3 = Instant::now();
    let ns = |d: std::time::Duration| d.as_nanos() as u64;
    Ok(AtomicTimings {
        bytes,
        write_ns: ns(t1 - t0),
        fsync_ns: ns(t2 - t1),
        rename_ns: ns(t3 - t2),
    })
}

/// A writer counting the bytes that go through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

    #[test]
    fn streamed_and_timed_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let t =
            write_atomic_timed(&p, &[b"head", b"", b"body"], AtomicOptions::public(false)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"headbody");
        assert_eq!(t.bytes, 8);
        let big = vec![3u8; 3 << 20];
        let t = write_atomic_with(&p, AtomicOptions::secret(true), |w| -> Result<()> {
            w.write_all(b"x").map_err(|e| io_err(&p, e))?;
            w.write_all(&big).map_err(|e| io_err(&p, e))
        })
        .unwrap();
        assert_eq!(t.bytes, 1 + big.len() as u64);
        let back = fs::read(&p).unwrap();
        assert_eq!(back.len(), 1 + big.len());
        assert_eq!(back[0], b'x');
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A failing fill leaves the old file and no temporary file.
        let e = write_atomic_with(&p, AtomicOptions::public(true), |w| -> Result<()> {
            w.write_all(b"partial").unwrap();
            Err(SealError::Random)
        })
        .unwrap_err();
        assert!(matches!(e, SealError::Random));
        assert_eq!(fs::read(&p).unwrap().len(), 1 + big.len());
        assert!(!tmp_path(&p).exists());
        // An existing file is refused before anything is written.
        let e = write_atomic_with(&p, AtomicOptions::public(false), |_| -> Result<()> {
            panic!("fill must not run")
        });
        assert!(matches!(e, Err(SealError::Exists { .. })));
    }
}
