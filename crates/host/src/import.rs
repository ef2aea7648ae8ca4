//! Import of the owner's sealed dataset file into the dataset area of a pool.
//!
//! The dataset area is single-copy (write-once data needs no twin): an import
//! header, then the sealed dataset file's bytes verbatim (its own header and
//! its fixed-length records, see [`seal::dataset`]), so the enclave can open
//! records straight from the mapping.
//!
//! ```text
//! area offset  field
//!       0   8  magic "PLIMPRT\0"
//!       8   4  format version (u32 LE) = 1
//!      12   4  record length (u32 LE)
//!      16  16  dataset id
//!      32   8  record count (u64 LE)
//!      40   8  file length (u64 LE): bytes to copy
//!      48   8  checksum: first 8 bytes of SHA-256 of bytes 0..48
//!      64   8  bytes copied so far (u64 LE, own cache line, one 8-byte store)
//!     128   8  state (u64 LE, own cache line): IMPORTING or COMPLETE word
//!    4096      the sealed dataset file, `file length` bytes
//! ```
//!
//! Protocol, with a persistence fence after each step: write the static fields
//! and `copied = 0`; state = IMPORTING; then per chunk: copy, persist, fence,
//! advance `copied` (persist, fence); finally check the copy parses as a
//! sealed dataset and store state = COMPLETE (persist, fence). A crash at any
//! point leaves either an area with no valid state (restarted from scratch), or
//! an IMPORTING area whose first `copied` bytes are persistent (resumed from
//! there), or a COMPLETE area. Training refuses an area that is not COMPLETE.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Context, Result, bail};
use crate::progress::{Event, Progress};
use enclave::layout::{
    IMPORT_COPIED_OFF as COPIED_OFF, IMPORT_HEADER_LEN, IMPORT_STATE_OFF as STATE_OFF,
    ImportHeader, Region as DatasetArea, STATE_COMPLETE, STATE_IMPORTING,
};
use ptm::{PmBackend, Pool};
use seal::dataset::{DatasetHeader, HEADER_LEN as DS_HEADER_LEN, SealedDataset, parse_header};

/// Default bytes per persisted chunk.
pub const DEFAULT_CHUNK: usize = 4 << 20;

/// Bytes of dataset area needed for a sealed dataset file of `file_len` bytes.
pub fn area_len_for(file_len: u64) -> u64 {
    IMPORT_HEADER_LEN + file_len
}

/// The import header describing the sealed dataset file with header `h`.
pub fn import_header_of(h: &DatasetHeader) -> ImportHeader {
    ImportHeader {
        dataset_id: h.dataset_id,
        record_count: h.sample_count,
        record_len: h.record_len() as u32,
        file_len: h.file_len() as u64,
    }
}

/// What a dataset area holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    /// Nothing imported yet (or an import that crashed before its first fence).
    Empty,
    /// An import in progress (interrupted if no process is running it).
    Importing {
        /// The dataset being imported.
        header: ImportHeader,
        /// Bytes persistently copied.
        copied: u64,
    },
    /// The dataset is fully imported and checked.
    Complete {
        /// The imported dataset.
        header: ImportHeader,
    },
}

impl std::fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportStatus::Empty => write!(f, "empty (no dataset imported)"),
            ImportStatus::Importing { header, copied } => write!(
                f,
                "INCOMPLETE: {copied} of {} bytes of dataset {} copied (interrupted import: rerun to resume)",
                header.file_len,
                hex::encode(header.dataset_id)
            ),
            ImportStatus::Complete { header } => write!(
                f,
                "complete: dataset {}, {} records of {} bytes",
                hex::encode(header.dataset_id),
                header.record_count,
                header.record_len
            ),
        }
    }
}

fn u64_at(b: &[u8], off: u64) -> u64 {
    let o = off as usize;
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

fn area_slice(raw: &[u8], area: DatasetArea) -> Result<&[u8]> {
    let end = area
        .off
        .checked_add(area.len)
        .filter(|e| *e <= raw.len() as u64);
    match end {
        Some(end) if area.len >= IMPORT_HEADER_LEN => Ok(&raw[area.off as usize..end as usize]),
        _ => bail!(
            "dataset area [{}, +{}) does not fit the pool's raw region of {} bytes",
            area.off,
            area.len,
            raw.len()
        ),
    }
}

/// Reads the status of the dataset area in `raw` (the pool's raw region).
pub fn import_status(raw: &[u8], area: DatasetArea) -> Result<ImportStatus> {
    let a = area_slice(raw, area)?;
    let state = u64_at(a, STATE_OFF);
    if state != STATE_IMPORTING && state != STATE_COMPLETE {
        if state != 0 {
            bail!("dataset area: unknown import state word {state:#018x} (corrupted)");
        }
        return Ok(ImportStatus::Empty);
    }
    let header = ImportHeader::decode(&a[..56])?;
    if IMPORT_HEADER_LEN + header.file_len > area.len {
        bail!(
            "dataset area: the import header announces {} bytes, the area holds {} (corrupted)",
            header.file_len,
            area.len - IMPORT_HEADER_LEN
        );
    }
    if state == STATE_COMPLETE {
        return Ok(ImportStatus::Complete { header });
    }
    let copied = u64_at(a, COPIED_OFF);
    if copied > header.file_len {
        bail!(
            "dataset area: {copied} bytes copied of a {}-byte file (corrupted progress word)",
            header.file_len
        );
    }
    Ok(ImportStatus::Importing { header, copied })
}

/// The imported sealed dataset in `raw` (no copy), checked to be COMPLETE and
/// to parse as a sealed dataset.
pub fn imported_dataset(raw: &[u8], area: DatasetArea) -> Result<SealedDataset<'_>> {
    match import_status(raw, area)? {
        ImportStatus::Complete { header } => {
            let a = area_slice(raw, area)?;
            let bytes =
                &a[IMPORT_HEADER_LEN as usize..(IMPORT_HEADER_LEN + header.file_len) as usize];
            let ds = SealedDataset::parse(bytes, "imported dataset in the pool")?;
            if ds.header().dataset_id != header.dataset_id {
                bail!(
                    "imported dataset in the pool: id {} differs from the import header's {} (corrupted)",
                    ds.header().id_hex(),
                    hex::encode(header.dataset_id)
                );
            }
            Ok(ds)
        }
        s => bail!("the pool's dataset area is not ready for training: {s}"),
    }
}

/// What [`import_file`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The whole file was copied in this call.
    Imported {
        /// Bytes copied.
        bytes: u64,
    },
    /// An interrupted import was resumed.
    Resumed {
        /// Bytes already persistent before this call.
        from: u64,
        /// Bytes in total.
        total: u64,
    },
    /// The same dataset was already imported: nothing done.
    AlreadyComplete,
}

/// Options of [`import_file`].
#[derive(Clone, Copy, Debug)]
pub struct ImportOptions {
    /// Bytes per persisted chunk.
    pub chunk: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// Checks the sealed dataset file at `path` without a key: magic, version,
/// header checksum, shape, and that its length is the one its header
/// announces. Returns its header.
pub fn check_dataset_file(path: &Path) -> Result<DatasetHeader> {
    let mut f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let len = f
        .metadata()
        .with_context(|| format!("{}: cannot stat", path.display()))?
        .len();
    let mut head = vec![0u8; DS_HEADER_LEN.min(len as usize)];
    f.read_exact(&mut head)
        .with_context(|| format!("{}: read failed", path.display()))?;
    let what = path.display().to_string();
    let header = parse_header(&head, &what)?;
    if len != header.file_len() as u64 {
        bail!(
            "{what}: {len} bytes, but its header announces {} records of {} bytes ({} bytes): truncated or extended",
            header.sample_count,
            header.record_len(),
            header.file_len()
        );
    }
    Ok(header)
}

/// Imports the sealed dataset file at `path` into `area` of the pool's raw
/// region, resuming an interrupted import of the same file. An area holding
/// another dataset is an error and is left untouched.
pub fn import_file<B: PmBackend>(
    pool: &mut Pool<B>,
    area: DatasetArea,
    path: &Path,
    opts: ImportOptions,
    progress: &mut dyn Progress,
) -> Result<ImportOutcome> {
    let ds_header = check_dataset_file(path)?;
    let want = import_header_of(&ds_header);
    if area_len_for(want.file_len) > area.len {
        bail!(
            "{}: {} bytes do not fit the pool's dataset area of {} bytes (the pool was made for a smaller dataset)",
            path.display(),
            want.file_len,
            area.len - IMPORT_HEADER_LEN.min(area.len)
        );
    }
    let status = import_status(pool.raw(), area)?;
    let from = match status {
        ImportStatus::Complete { header } | ImportStatus::Importing { header, .. }
            if header != want =>
        {
            bail!(
                "the pool already holds dataset {} ({} records); {} is dataset {} ({} records): \
             use a new pool for another dataset",
                hex::encode(header.dataset_id),
                header.record_count,
                path.display(),
                hex::encode(want.dataset_id),
                want.record_count
            )
        }
        ImportStatus::Complete { .. } => return Ok(ImportOutcome::AlreadyComplete),
        ImportStatus::Importing { copied, .. } => copied,
        ImportStatus::Empty => 0,
    };
    let chunk = opts.chunk.max(4096);
    let base = area.off;
    let mut raw = pool.raw_mut();
    if status == ImportStatus::Empty {
        let fields = want.encode();
        raw.bytes_mut(base, 56)?.copy_from_slice(&fields);
        raw.store_u64(base + COPIED_OFF, 0)?;
        raw.persist(base, (COPIED_OFF + 8) as usize)?;
        raw.fence();
        raw.store_u64(base + STATE_OFF, STATE_IMPORTING)?;
        raw.persist(base + STATE_OFF, 8)?;
        raw.fence();
    }
    let mut f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    f.seek(SeekFrom::Start(from))
        .with_context(|| format!("{}: seek failed", path.display()))?;
    progress.event(Event::ImportStart {
        total: want.file_len,
        from,
    });
    let data = base + IMPORT_HEADER_LEN;
    let mut copied = from;
    while copied < want.file_len {
        let n = chunk.min((want.file_len - copied) as usize);
        let dst = raw.bytes_mut(data + copied, n)?;
        f.read_exact(dst).with_context(|| {
            format!(
                "{}: read failed at byte {copied} (file changed while importing?)",
                path.display()
            )
        })?;
        raw.persist(data + copied, n)?;
        raw.fence();
        copied += n as u64;
        raw.store_u64(base + COPIED_OFF, copied)?;
        raw.persist(base + COPIED_OFF, 8)?;
        raw.fence();
        progress.event(Event::Imported(copied));
    }
    // The copy must parse as the dataset the header announced before it is
    // declared complete (catches a file that changed under us).
    {
        let bytes = &raw.bytes()[data as usize..(data + want.file_len) as usize];
        let ds = SealedDataset::parse(bytes, "imported dataset in the pool")?;
        if *ds.header() != ds_header {
            bail!(
                "{}: the file changed while it was being imported",
                path.display()
            );
        }
    }
    raw.store_u64(base + STATE_OFF, STATE_COMPLETE)?;
    raw.persist(base + STATE_OFF, 8)?;
    raw.fence();
    Ok(if from == 0 {
        ImportOutcome::Imported {
            bytes: want.file_len,
        }
    } else {
        ImportOutcome::Resumed {
            from,
            total: want.file_len,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use ptm::{PoolSize, SimPm};
    use seal::dataset::{Split, seal_sample_into};
    use seal::{DatasetKey, sealed_len};

    fn sealed_file(dir: &Path, n: u64, seed: u8) -> (std::path::PathBuf, Vec<u8>) {
        let key = DatasetKey::generate().unwrap().record_key();
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [seed; 16],
            sample_count: n,
            rows: 8,
            cols: 8,
        };
        let mut bytes = header.encode(&key).unwrap().to_vec();
        let mut scratch = vec![0u8; 65];
        let mut rec = vec![0u8; sealed_len(65)];
        for i in 0..n {
            let px: Vec<u8> = (0..64).map(|p| (p as u64 + i) as u8).collect();
            seal_sample_into(&key, &header.dataset_id, i, &px, 3, &mut scratch, &mut rec).unwrap();
            bytes.extend_from_slice(&rec);
        }
        let p = dir.join(format!("d{seed}.sealed"));
        std::fs::write(&p, &bytes).unwrap();
        (p, bytes)
    }

    const RAW: u64 = 64 << 10;
    fn area() -> DatasetArea {
        DatasetArea { off: 0, len: RAW }
    }
    fn pool_len() -> usize {
        // header + 2 × main (16 KiB) + raw
        4096 + 2 * (16 << 10) + RAW as usize
    }
    fn sim_pool(sim: SimPm) -> Pool<SimPm> {
        Pool::format(
            sim,
            PoolSize {
                main: 16 << 10,
                raw: RAW,
            },
        )
        .unwrap()
    }
    fn opts() -> ImportOptions {
        ImportOptions { chunk: 4096 }
    }

    #[test]
    fn import_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (p, bytes) = sealed_file(dir.path(), 300, 1);
        let mut pool = sim_pool(SimPm::new(pool_len()));
        assert_eq!(
            import_status(pool.raw(), area()).unwrap(),
            ImportStatus::Empty
        );
        let out = import_file(&mut pool, area(), &p, opts(), &mut NoProgress).unwrap();
        assert_eq!(
            out,
            ImportOutcome::Imported {
                bytes: bytes.len() as u64
            }
        );
        let ds = imported_dataset(pool.raw(), area()).unwrap();
        assert_eq!(ds.len(), 300);
        assert_eq!(&pool.raw()[4096..4096 + bytes.len()], &bytes[..]);
        assert_eq!(
            import_file(&mut pool, area(), &p, opts(), &mut NoProgress).unwrap(),
            ImportOutcome::AlreadyComplete
        );
        // Another dataset: refused, area untouched.
        let (q, _) = sealed_file(dir.path(), 10, 2);
        let before = pool.raw().to_vec();
        let e = crate::error::chain(
            &import_file(&mut pool, area(), &q, opts(), &mut NoProgress).unwrap_err(),
        );
        assert!(e.contains("already holds dataset 0101"), "{e}");
        assert_eq!(pool.raw(), &before[..]);
    }

    #[test]
    fn crash_at_every_fence_resumes_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (p, bytes) = sealed_file(dir.path(), 200, 3);
        // Fences of a full import from a fresh pool.
        let mut fresh = sim_pool(SimPm::new(pool_len()));
        let base = fresh.backend().fences();
        import_file(&mut fresh, area(), &p, opts(), &mut NoProgress).unwrap();
        let total = fresh.backend().fences() - base;
        assert!(total > 6, "{total} fences");
        let formatted = sim_pool(SimPm::new(pool_len())).backend().persisted_image();
        let mut seen_importing = false;
        for n in 1..=total {
            let mut pool = sim_pool(SimPm::from_image(&formatted));
            pool.backend().crash_at_fence(n);
            // The program carries on in volatile memory after the crash.
            let _ = import_file(&mut pool, area(), &p, opts(), &mut NoProgress);
            assert!(pool.backend().crashed());
            let image = pool.backend().persisted_image();
            let mut again = Pool::from_backend(SimPm::from_image(&image)).unwrap();
            let status = import_status(again.raw(), area()).unwrap();
            if let ImportStatus::Importing { copied, .. } = status {
                seen_importing = true;
                assert_eq!(
                    &again.raw()[4096..4096 + copied as usize],
                    &bytes[..copied as usize]
                );
            }
            assert!(imported_dataset(again.raw(), area()).is_err() || n == total);
            import_file(&mut again, area(), &p, opts(), &mut NoProgress).unwrap();
            assert_eq!(
                &again.raw()[4096..4096 + bytes.len()],
                &bytes[..],
                "crash at fence {n}"
            );
            imported_dataset(again.raw(), area()).unwrap();
        }
        assert!(seen_importing);
    }

    #[test]
    fn bad_files_are_refused_before_touching_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let (p, bytes) = sealed_file(dir.path(), 50, 4);
        let mut pool = sim_pool(SimPm::new(pool_len()));
        let before = pool.raw().to_vec();
        let t = dir.path().join("truncated.sealed");
        std::fs::write(&t, &bytes[..bytes.len() - 5]).unwrap();
        let e = crate::error::chain(
            &import_file(&mut pool, area(), &t, opts(), &mut NoProgress).unwrap_err(),
        );
        assert!(
            e.contains("truncated.sealed") && e.contains("truncated"),
            "{e}"
        );
        let f = dir.path().join("foreign.bin");
        std::fs::write(&f, vec![7u8; 4000]).unwrap();
        let e = crate::error::chain(
            &import_file(&mut pool, area(), &f, opts(), &mut NoProgress).unwrap_err(),
        );
        assert!(e.contains("foreign.bin") && e.contains("magic"), "{e}");
        let e = crate::error::chain(
            &import_file(
                &mut pool,
                area(),
                &dir.path().join("missing"),
                opts(),
                &mut NoProgress,
            )
            .unwrap_err(),
        );
        assert!(e.contains("missing") && e.contains("cannot open"), "{e}");
        let small = DatasetArea { off: 0, len: 8192 };
        let e = crate::error::chain(
            &import_file(&mut pool, small, &p, opts(), &mut NoProgress).unwrap_err(),
        );
        assert!(e.contains("do not fit"), "{e}");
        assert_eq!(pool.raw(), &before[..]);
    }

    #[test]
    fn corrupted_area_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = sealed_file(dir.path(), 20, 5);
        let mut pool = sim_pool(SimPm::new(pool_len()));
        import_file(&mut pool, area(), &p, opts(), &mut NoProgress).unwrap();
        let image = pool.backend().cache_image();
        let raw_off = image.len() - RAW as usize;
        for (off, want) in [(20usize, "checksum"), (0, "magic"), (130, "state word")] {
            let mut bad = image.clone();
            bad[raw_off + off] ^= 0x10;
            let pool = Pool::from_backend(SimPm::from_image(&bad)).unwrap();
            let e = crate::error::chain(&imported_dataset(pool.raw(), area()).unwrap_err());
            assert!(e.contains(want), "byte {off}: {e}");
        }
        // The dataset's own header, inside the area.
        let mut bad = image.clone();
        bad[raw_off + 4096 + 33] ^= 1;
        let pool = Pool::from_backend(SimPm::from_image(&bad)).unwrap();
        let e = crate::error::chain(&imported_dataset(pool.raw(), area()).unwrap_err());
        assert!(e.contains("imported dataset in the pool"), "{e}");
    }
}
