//! The file back-end: a pool file mapped shared, locked against a second opener,
//! flushed with the strategy chosen for its file system.

use crate::backend::PmBackend;
use crate::error::{PtmError, Result};
use crate::flush::{self, FlushStrategy};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A pool file opened read-write and locked (`flock`, exclusive), not yet mapped.
pub(crate) struct LockedFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
}

fn io(path: &Path, op: &'static str, source: std::io::Error) -> PtmError {
    PtmError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

impl LockedFile {
    /// Opens an existing file (never creates) and locks it.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io(path, "open", e))?;
        Self::lock(file, path)
    }

    /// Creates the file; refuses an existing one unless `overwrite`.
    pub(crate) fn create(path: &Path, overwrite: bool) -> Result<Self> {
        let mut o = OpenOptions::new();
        o.read(true).write(true).mode(0o600);
        if overwrite {
            o.create(true);
        } else {
            o.create_new(true);
        }
        let file = o.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                PtmError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                io(path, "create", e)
            }
        })?;
        let locked = Self::lock(file, path)?;
        // Only truncate once we hold the lock: never clobber a pool in use.
        locked
            .file
            .set_len(0)
            .map_err(|e| io(path, "truncate", e))?;
        Ok(locked)
    }

    fn lock(file: File, path: &Path) -> Result<Self> {
        // SAFETY: flock on a valid, owned file descriptor.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                PtmError::Locked {
                    path: path.to_path_buf(),
                }
            } else {
                io(path, "flock", e)
            });
        }
        Ok(LockedFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| io(&self.path, "stat", e))?
            .len())
    }

    /// Reads up to `buf.len()` bytes at offset 0; returns how many were read.
    pub(crate) fn read_prefix(&self, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(&self.path, "read", e)),
            }
        }
        Ok(done)
    }

    /// Grows the (new) file to `len` bytes; with `reserve`, also reserves the
    /// space (posix_fallocate) so that a full file system is an error now
    /// rather than a SIGBUS later.
    pub(crate) fn allocate(&self, len: u64, reserve: bool) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| io(&self.path, "set_len", e))?;
        if !reserve {
            return Ok(());
        }
        // SAFETY: posix_fallocate on a valid descriptor with in-range values.
        let r = unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, len as libc::off_t) };
        if r != 0 && r != libc::EOPNOTSUPP && r != libc::EINVAL {
            return Err(io(
                &self.path,
                "reserve space (posix_fallocate)",
                std::io::Error::from_raw_os_error(r),
            ));
        }
        Ok(())
    }

    /// Maps the first `len` bytes shared. `flush`: the strategy, else
    /// `PLINIUS_FLUSH`, else chosen from the file system. `prefault`: fault in
    /// every page now, for writing (`Fault::Write`: allocates the pages of a new
    /// file on tmpfs or PM, failing cleanly when space runs out) or reading
    /// (`Fault::Read`: maps existing pages; on an ordinary disk nothing is dirtied).
    pub(crate) fn map(
        self,
        len: usize,
        flush: Option<FlushStrategy>,
        prefault: Option<Fault>,
    ) -> Result<FileBackend> {
        let fd = self.file.as_raw_fd();
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // Try MAP_SYNC first: it only succeeds on a DAX mount (real PM).
        // SAFETY: mapping `len` bytes of our own open file; the result is checked.
        let mut ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC,
                fd,
                0,
            )
        };
        let dax = ptr != libc::MAP_FAILED;
        if !dax {
            // SAFETY: as above, a plain shared mapping.
            ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
        }
        if ptr == libc::MAP_FAILED {
            return Err(io(&self.path, "mmap", std::io::Error::last_os_error()));
        }
        let strategy = match flush {
            Some(s) => s,
            None => match FlushStrategy::from_env()? {
                Some(s) => s,
                None => flush::auto_strategy(&self.path, dax),
            },
        };
        let backend = FileBackend {
            ptr: ptr as *mut u8,
            len,
            file: self.file,
            path: self.path,
            strategy,
            dax,
        };
        strategy.check_supported()?;
        if let Some(fault) = prefault {
            backend.prefault(fault)?;
        }
        Ok(backend)
    }
}

/// How to pre-fault a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    Read,
    Write,
}

/// `MADV_POPULATE_READ` / `MADV_POPULATE_WRITE` (Linux 5.14+).
const MADV_POPULATE_READ: libc::c_int = 22;
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// A pool file mapped shared and locked for exclusive use.
pub struct FileBackend {
    ptr: *mut u8,
    len: usize,
    file: File,
    path: PathBuf,
    strategy: FlushStrategy,
    dax: bool,
}

// SAFETY: the mapping is owned by this value and lives until drop; the raw
// pointer is only a handle to it (like memmap2's MmapMut).
unsafe impl Send for FileBackend {}
// SAFETY: shared access only hands out the pointer; the pool synchronises the bytes.
unsafe impl Sync for FileBackend {}

impl FileBackend {
    fn prefault(&self, fault: Fault) -> Result<()> {
        let advice = match fault {
            Fault::Read => MADV_POPULATE_READ,
            Fault::Write => MADV_POPULATE_WRITE,
        };
        // SAFETY: advice on exactly our own live mapping.
        let r = unsafe { libc::madvise(self.ptr as *mut libc::c_void, self.len, advice) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            // An older kernel: ask for read-ahead instead (best effort).
            // SAFETY: as above.
            unsafe { libc::madvise(self.ptr as *mut libc::c_void, self.len, libc::MADV_WILLNEED) };
            return Ok(());
        }
        Err(io(&self.path, "pre-fault the mapping (out of space?)", e))
    }

    /// Whether the mapping was made with `MAP_SYNC` (a DAX mount: real PM).
    pub fn is_dax(&self) -> bool {
        self.dax
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl PmBackend for FileBackend {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn flush(&self, off: usize, len: usize) {
        let end = off.saturating_add(len).min(self.len);
        if off >= end {
            return;
        }
        if self.strategy == FlushStrategy::Msync {
            let start = off & !4095;
            // SAFETY: [start, end) lies inside our live mapping and start is page
            // aligned as msync requires.
            let r = unsafe {
                libc::msync(
                    self.ptr.add(start) as *mut libc::c_void,
                    end - start,
                    libc::MS_SYNC,
                )
            };
            debug_assert_eq!(r, 0, "msync failed");
        } else {
            // SAFETY: [off, end) is inside the mapping; the strategy was checked
            // supported when mapping.
            unsafe { flush::flush_lines(self.strategy, self.ptr.add(off), end - off) }
        }
    }
    fn fence(&self) {
        flush::fence(self.strategy);
    }
    fn strategy(&self) -> FlushStrategy {
        self.strategy
    }
    fn store_flush(&self) -> crate::backend::StoreFlush {
        crate::backend::inline_store_flush(self.strategy)
    }
    fn name(&self) -> &Path {
        &self.path
    }
    fn flush_lines(&self, base: usize, lines: &[(usize, usize)]) {
        if self.strategy == FlushStrategy::Msync {
            for &(a, b) in lines {
                self.flush(base + a * flush::LINE, (b - a) * flush::LINE);
            }
        } else {
            // SAFETY: ranges are clamped to the mapping; strategy supported.
            unsafe { flush::flush_line_ranges(self.strategy, self.ptr, self.len, base, lines) }
        }
    }
    fn write_persist_lines(&self, base: usize, lines: &[(usize, usize)], src: &[u8]) {
        if self.strategy == FlushStrategy::Msync {
            let mut pos = 0;
            for &(a, b) in lines {
                let n = ((b - a) * flush::LINE).min(src.len() - pos);
                self.write_persist(base + a * flush::LINE, &src[pos..pos + n]);
                pos += n;
            }
        } else {
            // SAFETY: ranges are clamped to the mapping; src does not overlap
            // the destinations (trait contract); strategy supported.
            unsafe {
                flush::stream_line_ranges(self.strategy, self.ptr, self.len, base, lines, src);
            }
        }
    }
    fn copy_lines(&self, src: usize, dst: usize, lines: &[usize]) {
        if self.strategy == FlushStrategy::Msync {
            crate::backend::copy_lines_one_by_one(self, src, dst, lines);
        } else {
            // SAFETY: the mapping is live; lines outside it are skipped; source
            // and destination lines do not overlap (trait contract); strategy
            // supported (checked when mapping).
            unsafe { flush::copy_line_list(self.strategy, self.ptr, self.len, src, dst, lines) }
        }
    }
    fn write_persist(&self, dst_off: usize, src: &[u8]) {
        let Some(end) = dst_off.checked_add(src.len()).filter(|e| *e <= self.len) else {
            return;
        };
        if self.strategy == FlushStrategy::Msync {
            // SAFETY: the destination is inside the mapping; src does not overlap it.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(dst_off), src.len());
            };
            self.flush(dst_off, end - dst_off);
        } else {
            // SAFETY: the destination is inside the mapping; src does not overlap
            // it; the strategy was checked supported when mapping.
            unsafe { flush::copy_persist(self.strategy, self.ptr.add(dst_off), src) }
        }
    }
}

impl Drop for FileBackend {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we created; nothing borrows it any
        // more (the pool that used it is being dropped).
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
        // The flock is released when `file` closes.
    }
}
