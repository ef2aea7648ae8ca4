//! Import of the owner's sealed dataset file into the dataset area of a pool:
//! the file side (checking the file, reading it chunk by chunk) of the
//! protocol that [`enclave::dataset_area`] defines (layout, states, fences,
//! resumption) and the enclave reads.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Context, Result, bail};
use crate::progress::{Event, Progress};
use enclave::dataset_area::{AreaWriter, Opened};
pub use enclave::dataset_area::{ImportStatus, imported_dataset, status as import_status};
use enclave::layout::Region as DatasetArea;
use ptm::{PmBackend, Pool};
use seal::dataset::{DatasetHeader, HEADER_LEN as DS_HEADER_LEN, parse_header};

/// Default bytes per persisted chunk.
pub const DEFAULT_CHUNK: usize = 4 << 20;

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
/// region ([`AreaWriter`]), resuming an interrupted import of the same file.
/// An area holding another dataset is an error and is left untouched.
pub fn import_file<B: PmBackend>(
    pool: &mut Pool<B>,
    area: DatasetArea,
    path: &Path,
    opts: ImportOptions,
    progress: &mut dyn Progress,
) -> Result<ImportOutcome> {
    let ds_header = check_dataset_file(path)?;
    let mut w = match AreaWriter::open(pool, area, &ds_header, &path.display().to_string())? {
        Opened::Writing(w) => w,
        Opened::Complete => return Ok(ImportOutcome::AlreadyComplete),
        Opened::Foreign(held) => bail!(
            "the pool already holds dataset {} ({} records); {} is dataset {} ({} records): \
             use a new pool for another dataset",
            hex::encode(held.dataset_id),
            held.record_count,
            path.display(),
            ds_header.id_hex(),
            ds_header.sample_count
        ),
    };
    let (from, total) = (w.copied(), w.total());
    let mut f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    f.seek(SeekFrom::Start(from))
        .with_context(|| format!("{}: seek failed", path.display()))?;
    progress.event(Event::ImportStart { total, from });
    let chunk = opts.chunk.max(4096);
    while w.copied() < total {
        let at = w.copied();
        let copied = w.append(chunk, |dst| {
            f.read_exact(dst).with_context(|| {
                format!(
                    "{}: read failed at byte {at} (file changed while importing?)",
                    path.display()
                )
            })
        })?;
        progress.event(Event::Imported(copied));
    }
    w.finish()?;
    Ok(if from == 0 {
        ImportOutcome::Imported { bytes: total }
    } else {
        ImportOutcome::Resumed { from, total }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use ptm::{PoolSize, SimPm};
    use seal::DatasetKey;
    use seal::dataset::{DatasetWriter, Split};

    fn sealed_file(dir: &Path, n: u64, seed: u8) -> (std::path::PathBuf, Vec<u8>) {
        let key = DatasetKey::generate().unwrap().record_key();
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [seed; 16],
            sample_count: n,
            rows: 8,
            cols: 8,
        };
        let mut w = DatasetWriter::new(&key, header, Vec::new(), "test").unwrap();
        for i in 0..n {
            let px: Vec<u8> = (0..64).map(|p| (p as u64 + i) as u8).collect();
            w.push(&px, 3).unwrap();
        }
        let bytes = w.finish().unwrap();
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
