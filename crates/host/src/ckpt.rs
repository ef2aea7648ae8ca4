//! The checkpoint file of the `ssd` mirror mode (the paper's baseline): the
//! enclave hands the host a sealed mirror image; the host frames it and writes
//! it crash-safely to disk:
//!
//! 1. write the frame to `<file>.tmp` (a leftover one is replaced),
//! 2. `fsync` it,
//! 3. `rename` it over `<file>` (atomic on POSIX file systems),
//! 4. `fsync` the directory, so the rename itself is durable.
//!
//! After a crash at any step the file holds either the previous or the new
//! image, never a mix; a leftover `.tmp` is ignored and overwritten next time.
//!
//! Frame (little endian): magic `PLCKPT\0\0` (8), format version u32, reserved
//! u32 (0), image length u64, then the image. The frame only catches foreign
//! and truncated files; the image's integrity and freshness (which iteration,
//! which model) are checked by the enclave, whose records are sealed with
//! associated data, so a flipped byte is reported naming the record.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use enclave::{BoxError, CheckpointStore};
pub use hostio::fs::tmp_path;
use hostio::fs::{AtomicOptions, parent_dir, write_atomic_timed};

use crate::error::{HostError, Result};

/// Magic at the start of a checkpoint file.
pub const CKPT_MAGIC: [u8; 8] = *b"PLCKPT\0\0";
/// Format version of the frame.
pub const CKPT_VERSION: u32 = 1;
/// Bytes of the frame before the image.
pub const CKPT_HEADER_LEN: usize = 24;

/// Time spent in each step of one checkpoint write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CkptWriteStats {
    /// Bytes written (frame included).
    pub bytes: u64,
    /// Nanoseconds in `write` of the temporary file.
    pub write_ns: u64,
    /// Nanoseconds in `fsync` of the temporary file.
    pub fsync_ns: u64,
    /// Nanoseconds in `rename` and the directory `fsync`.
    pub rename_ns: u64,
}

impl CkptWriteStats {
    /// Total nanoseconds.
    pub fn total_ns(&self) -> u64 {
        self.write_ns + self.fsync_ns + self.rename_ns
    }
}

/// Magic and version of the frame.
const HEADER: wire::Header = wire::Header {
    magic: &CKPT_MAGIC,
    width: wire::VersionWidth::U32,
    version: CKPT_VERSION,
    min_len: CKPT_HEADER_LEN,
    foreign: "not a Plinius checkpoint (bad magic)",
    label: "format version",
};

fn frame_header(image_len: usize) -> Vec<u8> {
    let mut w = wire::Writer::with_capacity(CKPT_HEADER_LEN);
    HEADER.write(&mut w);
    w.u32(0);
    w.u64(image_len as u64);
    w.into_vec()
}

/// Checks a frame header (`what` names the file) and returns the image
/// length it announces.
fn decode_frame_header(h: &[u8], what: &str) -> Result<u64> {
    let mut r = HEADER.check(h, what)?;
    r.skip(4, "reserved")?;
    Ok(r.u64("image length")?)
}

/// An error naming `path` (`what`: what could not be done) if the directory
/// it goes into does not exist, so that the user reads their own path rather
/// than that of its temporary sibling.
pub fn check_out_dir(path: &Path, what: &str) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(HostError::file(
            path,
            format!("{what}: the directory {} does not exist", dir.display()),
        ));
    }
    Ok(())
}

/// An I/O error on the checkpoint file `path` (messages read
/// `checkpoint PATH: what: cause`).
fn ckpt_io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> HostError {
    let what = format!("checkpoint {}: {what}", path.display());
    move |source| HostError::Context {
        what,
        source: source.into(),
    }
}

/// A checkpoint file that is not a valid frame.
fn ckpt_bad(path: &Path, what: String) -> HostError {
    HostError::Invalid(format!("checkpoint {}: {what}", path.display()))
}

/// The default checkpoint path of a pool: `<pool>.ckpt`.
pub fn default_checkpoint(pool: &Path) -> PathBuf {
    let mut n = pool.as_os_str().to_os_string();
    n.push(".ckpt");
    PathBuf::from(n)
}

/// The `ssd` mode's checkpoint file, as the enclave's [`CheckpointStore`].
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Timings of the last write.
    pub last: CkptWriteStats,
}

impl FileCheckpoint {
    /// A store writing `path`.
    pub fn new(path: PathBuf) -> Self {
        FileCheckpoint {
            path,
            last: CkptWriteStats::default(),
        }
    }
}

impl CheckpointStore for FileCheckpoint {
    fn load(&mut self) -> std::result::Result<Option<Vec<u8>>, BoxError> {
        if !self.path.exists() {
            return Err(format!(
                "checkpoint {}: no such file, but this ssd-mode pool's model is mirrored there: \
                 if it was moved, give its path with --checkpoint FILE (nothing was written)",
                self.path.display()
            )
            .into());
        }
        read_checkpoint(&self.path)
            .map(Some)
            .map_err(|e| crate::error::chain(&e).into())
    }

    fn store(&mut self, image: &[u8]) -> std::result::Result<(), BoxError> {
        self.last = write_checkpoint(&self.path, image)
            .map_err(|e| -> BoxError { crate::error::chain(&e).into() })?;
        Ok(())
    }
}

/// Writes `image` to the checkpoint file `path` crash-safely
/// ([`hostio::fs::write_atomic_timed`]: tmp, fsync, rename, directory fsync)
/// and returns the time of each step.
pub fn write_checkpoint(path: &Path, image: &[u8]) -> Result<CkptWriteStats> {
    check_out_dir(path, "cannot create the checkpoint")?;
    let t = write_atomic_timed(
        path,
        &[&frame_header(image.len()), image],
        AtomicOptions::public(true),
    )
    .map_err(|e| HostError::Context {
        what: format!("checkpoint {}: write failed", path.display()),
        source: e.into(),
    })?;
    Ok(CkptWriteStats {
        bytes: t.bytes,
        write_ns: t.write_ns,
        fsync_ns: t.fsync_ns,
        rename_ns: t.rename_ns,
    })
}

/// Reads the checkpoint file at `path` and returns its image. A missing file,
/// a foreign file, another format version or a truncated or extended file is
/// an error naming the file.
pub fn read_checkpoint(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(ckpt_io(path, "cannot open"))?;
    let len = f.metadata().map_err(ckpt_io(path, "cannot stat"))?.len();
    if len < CKPT_HEADER_LEN as u64 {
        return Err(ckpt_bad(
            path,
            format!(
                "{len} bytes, shorter than the {CKPT_HEADER_LEN}-byte header (truncated or not a checkpoint)"
            ),
        ));
    }
    let mut h = [0u8; CKPT_HEADER_LEN];
    f.read_exact(&mut h).map_err(ckpt_io(path, "read failed"))?;
    let image_len = decode_frame_header(&h, &format!("checkpoint {}", path.display()))?;
    // The length comes from the file: add and convert without overflow.
    let framed = (CKPT_HEADER_LEN as u64).checked_add(image_len);
    let image_len = match (framed, usize::try_from(image_len)) {
        (Some(total), Ok(n)) if total == len => n,
        _ => {
            let total = framed.map_or_else(|| "more than 2^64".to_string(), |t| t.to_string());
            return Err(ckpt_bad(
                path,
                format!(
                    "{len} bytes, but the header announces an image of {image_len} bytes \
                     ({total} with the header): truncated or extended"
                ),
            ));
        }
    };
    let mut image = vec![0u8; image_len];
    f.read_exact(&mut image)
        .map_err(ckpt_io(path, "read failed"))?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.ckpt");
        let a: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let s = write_checkpoint(&p, &a).unwrap();
        assert_eq!(s.bytes, a.len() as u64 + CKPT_HEADER_LEN as u64);
        assert_eq!(read_checkpoint(&p).unwrap(), a);
        assert!(!tmp_path(&p).exists());
        let b = vec![9u8; 10];
        write_checkpoint(&p, &b).unwrap();
        assert_eq!(read_checkpoint(&p).unwrap(), b);
        // An empty image is a valid frame.
        write_checkpoint(&p, &[]).unwrap();
        assert_eq!(read_checkpoint(&p).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn leftover_tmp_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        write_checkpoint(&p, b"old image").unwrap();
        // A crash between write and rename leaves a partial tmp file.
        std::fs::write(tmp_path(&p), b"PLCKPT\0\0garbage").unwrap();
        assert_eq!(read_checkpoint(&p).unwrap(), b"old image");
        write_checkpoint(&p, b"new image").unwrap();
        assert_eq!(read_checkpoint(&p).unwrap(), b"new image");
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.ckpt");
        let e = read_checkpoint(&p).unwrap_err();
        assert!(crate::error::chain(&e).contains("cannot open"), "{e:#}");
        write_checkpoint(&p, &[5u8; 1000]).unwrap();
        let good = std::fs::read(&p).unwrap();
        std::fs::write(&p, &good[..good.len() - 1]).unwrap();
        let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
        assert!(e.contains("c.ckpt") && e.contains("truncated"), "{e}");
        std::fs::write(&p, &good[..10]).unwrap();
        let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
        assert!(e.contains("shorter"), "{e}");
        let mut foreign = good.clone();
        foreign[0] = b'X';
        std::fs::write(&p, &foreign).unwrap();
        let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
        assert!(e.contains("bad magic"), "{e}");
        let mut v2 = good.clone();
        v2[8] = 2;
        std::fs::write(&p, &v2).unwrap();
        let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
        assert!(e.contains("version 2"), "{e}");
    }

    #[test]
    fn crafted_lengths_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("crafted.ckpt");
        write_checkpoint(&p, &[5u8; 100]).unwrap();
        let good = std::fs::read(&p).unwrap();
        for n in [
            u64::MAX,
            u64::MAX - CKPT_HEADER_LEN as u64 + 1,
            u64::MAX - CKPT_HEADER_LEN as u64,
            1 << 63,
            u64::from(u32::MAX) + 1,
            99,
            101,
        ] {
            let mut bad = good.clone();
            bad[16..24].copy_from_slice(&n.to_le_bytes());
            std::fs::write(&p, &bad).unwrap();
            let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
            assert!(
                e.contains("crafted.ckpt") && e.contains(&format!("image of {n} bytes")),
                "{n}: {e}"
            );
        }
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&p, &bad).unwrap();
        let e = crate::error::chain(&read_checkpoint(&p).unwrap_err());
        assert!(e.contains("more than 2^64"), "{e}");
    }
}
