//! The pool's dataset area, in one place for the host's importer and the
//! enclave: its layout, its read side ([`status`], the sealed dataset in
//! place) and its write protocol ([`AreaWriter`], the crash-safe, resumable
//! import).
//!
//! The area is single-copy (write-once data needs no twin): an import header,
//! then the owner's sealed dataset file verbatim (its own header and its
//! fixed-length records, see [`seal::dataset`]), so the enclave opens records
//! straight from the mapping.
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
//! advance `copied` (persist, fence); finally check the copy parses as the
//! sealed dataset announced and store state = COMPLETE (persist, fence). A
//! crash at any point leaves either an area with no valid state (restarted
//! from scratch), or an IMPORTING area whose first `copied` bytes are
//! persistent (resumed from there), or a COMPLETE area. Training refuses an
//! area that is not COMPLETE.

use crate::error::{EnclaveError, Result};
use crate::layout::Region;
use ptm::{PmBackend, Pool, RawWriter};
use seal::dataset::{DatasetHeader, SealedDataset};

/// Magic at the start of a dataset area (the import header).
pub const IMPORT_MAGIC: [u8; 8] = *b"PLIMPRT\0";
/// Format version of the import header.
pub const IMPORT_VERSION: u32 = 1;
/// Bytes of the dataset area before the copy of the sealed dataset file.
pub const IMPORT_HEADER_LEN: u64 = 4096;
/// Offset in the dataset area of the u64 "bytes copied so far" (own line).
pub const IMPORT_COPIED_OFF: u64 = 64;
/// Offset in the dataset area of the u64 import state word (own line).
pub const IMPORT_STATE_OFF: u64 = 128;
/// Import state word: the copy is in progress.
pub const STATE_IMPORTING: u64 = 0x494d_504f_5254_494e;
/// Import state word: the copy is complete and checked.
pub const STATE_COMPLETE: u64 = 0x434f_4d50_4c45_5445;
/// Encoded length of the static fields of the import header.
const FIELDS_LEN: usize = 56;

/// Bytes of dataset area needed for a sealed dataset file of `file_len` bytes.
pub fn area_len_for(file_len: u64) -> u64 {
    IMPORT_HEADER_LEN + file_len
}

/// The static fields of a dataset area's import header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportHeader {
    /// The dataset id.
    pub dataset_id: [u8; 16],
    /// Records in the dataset.
    pub record_count: u64,
    /// Bytes per sealed record.
    pub record_len: u32,
    /// Length of the sealed dataset file.
    pub file_len: u64,
}

const DS_WHAT: &str = "dataset area";
/// Magic and version of the dataset area's import header.
const IMPORT_HEADER: wire::Header = wire::Header {
    magic: &IMPORT_MAGIC,
    width: wire::VersionWidth::U32,
    version: IMPORT_VERSION,
    min_len: FIELDS_LEN,
    foreign: "bad magic (no dataset imported, or corrupted)",
    label: "import format version",
};

impl ImportHeader {
    /// The import header describing the sealed dataset file with header `h`.
    pub fn of(h: &DatasetHeader) -> Self {
        ImportHeader {
            dataset_id: h.dataset_id,
            record_count: h.sample_count,
            record_len: h.record_len() as u32,
            file_len: h.file_len() as u64,
        }
    }

    /// Encodes the static fields (56 bytes: magic, version, record length,
    /// id, count, file length, checksum of the first 48 bytes).
    pub fn encode(&self) -> [u8; FIELDS_LEN] {
        let mut w = wire::Writer::with_capacity(FIELDS_LEN);
        IMPORT_HEADER.write(&mut w);
        w.u32(self.record_len);
        w.bytes(&self.dataset_id);
        w.u64(self.record_count);
        w.u64(self.file_len);
        w.checksum();
        w.into_array().expect("the import header is 56 bytes")
    }

    /// Decodes and checks the static fields.
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut r = IMPORT_HEADER.check(b, DS_WHAT)?;
        if !wire::checksum_ok(b, FIELDS_LEN - 8) {
            return Err(EnclaveError::layout(
                DS_WHAT,
                "import header checksum mismatch (corrupted)",
            ));
        }
        Ok(ImportHeader {
            record_len: r.u32("record length")?,
            dataset_id: r.array("dataset id")?,
            record_count: r.u64("record count")?,
            file_len: r.u64("file length")?,
        })
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

/// The bytes of `area` in `raw`, at least an import header long.
fn area_slice(raw: &[u8], area: Region) -> Result<&[u8]> {
    area.slice(raw)
        .filter(|a| a.len() as u64 >= IMPORT_HEADER_LEN)
        .ok_or_else(|| {
            EnclaveError::layout(
                DS_WHAT,
                format!(
                    "[{}, +{}) does not fit the pool's raw region of {} bytes",
                    area.off,
                    area.len,
                    raw.len()
                ),
            )
        })
}

/// Reads the status of the dataset area `area` of `raw` (the pool's raw
/// region): an error naming the problem for an area that does not fit, an
/// unknown state word, a corrupt import header or progress word.
pub fn status(raw: &[u8], area: Region) -> Result<ImportStatus> {
    let a = area_slice(raw, area)?;
    let state = u64_at(a, IMPORT_STATE_OFF);
    if state != STATE_IMPORTING && state != STATE_COMPLETE {
        if state != 0 {
            return Err(EnclaveError::layout(
                DS_WHAT,
                format!("unknown import state word {state:#018x} (corrupted)"),
            ));
        }
        return Ok(ImportStatus::Empty);
    }
    let header = ImportHeader::decode(&a[..FIELDS_LEN])?;
    // The file length comes from the pool: add without overflow.
    if IMPORT_HEADER_LEN
        .checked_add(header.file_len)
        .is_none_or(|need| need > area.len)
    {
        return Err(EnclaveError::layout(
            DS_WHAT,
            format!(
                "the import header announces {} bytes, the area holds {} (corrupted)",
                header.file_len,
                area.len - IMPORT_HEADER_LEN
            ),
        ));
    }
    if state == STATE_COMPLETE {
        return Ok(ImportStatus::Complete { header });
    }
    let copied = u64_at(a, IMPORT_COPIED_OFF);
    if copied > header.file_len {
        return Err(EnclaveError::layout(
            DS_WHAT,
            format!(
                "{copied} bytes copied of a {}-byte file (corrupted progress word)",
                header.file_len
            ),
        ));
    }
    Ok(ImportStatus::Importing { header, copied })
}

/// The file bytes of a dataset area `area` of `raw` whose import header
/// `header` was checked by [`status`].
fn file_bytes(raw: &[u8], area: Region, header: ImportHeader) -> &[u8] {
    let start = (area.off + IMPORT_HEADER_LEN) as usize;
    &raw[start..start + header.file_len as usize]
}

/// The sealed dataset file bytes of a COMPLETE dataset area `area` of `raw`
/// (no copy): an error naming the problem if the area does not fit, was
/// never imported, or its import is not complete.
pub fn complete_dataset(raw: &[u8], area: Region) -> Result<&[u8]> {
    match status(raw, area)? {
        ImportStatus::Complete { header } => Ok(file_bytes(raw, area, header)),
        ImportStatus::Importing { copied, .. } => Err(EnclaveError::Dataset(format!(
            "the import into the pool is incomplete ({copied} bytes copied): rerun the import to \
             resume it"
        ))),
        ImportStatus::Empty => Err(EnclaveError::Dataset(
            "no dataset has been imported into the pool".into(),
        )),
    }
}

/// The imported sealed dataset of `area` in `raw` (no copy), checked to be
/// COMPLETE, to parse as a sealed dataset and to be the one its import
/// header names.
pub fn imported_dataset(raw: &[u8], area: Region) -> Result<SealedDataset<'_>> {
    let header = match status(raw, area)? {
        ImportStatus::Complete { header } => header,
        s => {
            return Err(EnclaveError::Dataset(format!(
                "the pool's dataset area is not ready for training: {s}"
            )));
        }
    };
    let what = "imported dataset in the pool";
    let ds = SealedDataset::parse(file_bytes(raw, area, header), what)?;
    if ds.header().dataset_id != header.dataset_id {
        return Err(EnclaveError::layout(
            what,
            format!(
                "id {} differs from the import header's {} (corrupted)",
                ds.header().id_hex(),
                hex::encode(header.dataset_id)
            ),
        ));
    }
    Ok(ds)
}

/// What [`AreaWriter::open`] found.
pub enum Opened<'p> {
    /// The area is empty (now initialised) or holds an interrupted import of
    /// the same dataset: copy the rest with the writer.
    Writing(AreaWriter<'p>),
    /// The same dataset is already imported: nothing to do.
    Complete,
    /// The area holds (or was importing) another dataset; it was not touched.
    Foreign(ImportHeader),
}

/// The write side of the import protocol (see the module documentation):
/// opened on an area, fed chunk by chunk in file order, then finished.
pub struct AreaWriter<'p> {
    raw: RawWriter<'p>,
    base: u64,
    dataset: DatasetHeader,
    total: u64,
    copied: u64,
    what: String,
}

impl<'p> AreaWriter<'p> {
    /// Opens `area` of `pool` to import the sealed dataset with header
    /// `dataset` (`what` names its file in errors). An empty area gets its
    /// import header, `copied = 0` and the IMPORTING state (each persisted
    /// and fenced); an interrupted import of the same dataset resumes where
    /// its progress word says. A file too large for the area is an error
    /// and nothing is written.
    pub fn open<B: PmBackend>(
        pool: &'p mut Pool<B>,
        area: Region,
        dataset: &DatasetHeader,
        what: &str,
    ) -> Result<Opened<'p>> {
        let want = ImportHeader::of(dataset);
        if area_len_for(want.file_len) > area.len {
            return Err(EnclaveError::layout(
                what,
                format!(
                    "{} bytes do not fit the pool's dataset area of {} bytes (the pool was made \
                     for a smaller dataset)",
                    want.file_len,
                    area.len - IMPORT_HEADER_LEN.min(area.len)
                ),
            ));
        }
        let status = status(pool.raw(), area)?;
        let copied = match status {
            ImportStatus::Complete { header } | ImportStatus::Importing { header, .. }
                if header != want =>
            {
                return Ok(Opened::Foreign(header));
            }
            ImportStatus::Complete { .. } => return Ok(Opened::Complete),
            ImportStatus::Importing { copied, .. } => copied,
            ImportStatus::Empty => 0,
        };
        let mut raw = pool.raw_mut();
        let base = area.off;
        if status == ImportStatus::Empty {
            raw.bytes_mut(base, FIELDS_LEN)?
                .copy_from_slice(&want.encode());
            raw.store_u64(base + IMPORT_COPIED_OFF, 0)?;
            raw.persist(base, (IMPORT_COPIED_OFF + 8) as usize)?;
            raw.fence();
            raw.store_u64(base + IMPORT_STATE_OFF, STATE_IMPORTING)?;
            raw.persist(base + IMPORT_STATE_OFF, 8)?;
            raw.fence();
        }
        Ok(Opened::Writing(AreaWriter {
            raw,
            base,
            dataset: *dataset,
            total: want.file_len,
            copied,
            what: what.to_string(),
        }))
    }

    /// Bytes of the file persistently copied.
    pub fn copied(&self) -> u64 {
        self.copied
    }

    /// Bytes of the file in total.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Copies the next chunk of at most `max` bytes (the file's bytes from
    /// [`copied`](Self::copied) on), which `fill` writes into the area; then
    /// persists it and advances the progress word (each fenced). Returns the
    /// bytes copied so far. An error of `fill` leaves the progress word as it
    /// was.
    pub fn append<E: From<EnclaveError>>(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let n = (max as u64).min(self.total - self.copied) as usize;
        let at = self.base + IMPORT_HEADER_LEN + self.copied;
        let to_enclave = |e: ptm::PtmError| E::from(EnclaveError::from(e));
        fill(self.raw.bytes_mut(at, n).map_err(to_enclave)?)?;
        self.raw.persist(at, n).map_err(to_enclave)?;
        self.raw.fence();
        self.copied += n as u64;
        let progress = self.base + IMPORT_COPIED_OFF;
        self.raw
            .store_u64(progress, self.copied)
            .map_err(to_enclave)?;
        self.raw.persist(progress, 8).map_err(to_enclave)?;
        self.raw.fence();
        Ok(self.copied)
    }

    /// Checks the whole file was copied and parses as the sealed dataset
    /// announced at [`open`](Self::open) (catches a file that changed while
    /// it was copied), then stores the COMPLETE state (persisted, fenced).
    pub fn finish(mut self) -> Result<()> {
        if self.copied != self.total {
            return Err(EnclaveError::layout(
                &self.what,
                format!(
                    "{} of {} bytes copied: the import is not finished",
                    self.copied, self.total
                ),
            ));
        }
        let data = (self.base + IMPORT_HEADER_LEN) as usize;
        let bytes = &self.raw.bytes()[data..data + self.total as usize];
        let ds = SealedDataset::parse(bytes, "imported dataset in the pool")?;
        if *ds.header() != self.dataset {
            return Err(EnclaveError::layout(
                &self.what,
                "the file changed while it was being imported",
            ));
        }
        let state = self.base + IMPORT_STATE_OFF;
        self.raw.store_u64(state, STATE_COMPLETE)?;
        self.raw.persist(state, 8)?;
        self.raw.fence();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ptm::{PoolSize, SimPm};
    use seal::DatasetKey;
    use seal::dataset::{DatasetWriter, Split};

    const RAW: u64 = 64 << 10;
    const AREA: Region = Region { off: 0, len: RAW };

    fn sealed(n: u64, id: u8) -> (DatasetHeader, Vec<u8>) {
        let key = DatasetKey::generate().unwrap().record_key();
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [id; 16],
            sample_count: n,
            rows: 8,
            cols: 8,
        };
        let mut w = DatasetWriter::new(&key, header, Vec::new(), "test").unwrap();
        for i in 0..n {
            let px: Vec<u8> = (0..64).map(|p| (p as u64 + i) as u8).collect();
            w.push(&px, 3).unwrap();
        }
        (header, w.finish().unwrap())
    }

    fn sim_pool(sim: SimPm) -> Pool<SimPm> {
        let size = PoolSize {
            main: 16 << 10,
            raw: RAW,
        };
        Pool::format(sim, size).unwrap()
    }

    fn pool_len() -> usize {
        ptm::layout::HEADER_LEN + 2 * (16 << 10) + RAW as usize
    }

    /// Imports `file` (header `h`) in chunks of 4 KiB; `Ok(true)` if it was
    /// already complete.
    fn import(pool: &mut Pool<SimPm>, h: &DatasetHeader, file: &[u8]) -> Result<bool> {
        let mut w = match AreaWriter::open(pool, AREA, h, "test file")? {
            Opened::Writing(w) => w,
            Opened::Complete => return Ok(true),
            Opened::Foreign(f) => panic!("foreign dataset {f:?}"),
        };
        while w.copied() < w.total() {
            let at = w.copied() as usize;
            w.append(4096, |dst: &mut [u8]| -> Result<()> {
                dst.copy_from_slice(&file[at..at + dst.len()]);
                Ok(())
            })?;
        }
        w.finish()?;
        Ok(false)
    }

    #[test]
    fn states_of_a_hand_written_area() {
        let area = Region {
            off: 0,
            len: IMPORT_HEADER_LEN + 100,
        };
        let mut raw = vec![0u8; area.len as usize];
        assert_eq!(status(&raw, area).unwrap(), ImportStatus::Empty);
        let e = complete_dataset(&raw, area).unwrap_err();
        assert!(e.to_string().contains("no dataset"), "{e}");
        let h = ImportHeader {
            dataset_id: [1; 16],
            record_count: 2,
            record_len: 40,
            file_len: 90,
        };
        raw[..56].copy_from_slice(&h.encode());
        raw[64..72].copy_from_slice(&30u64.to_le_bytes());
        raw[128..136].copy_from_slice(&STATE_IMPORTING.to_le_bytes());
        let s = status(&raw, area).unwrap();
        assert_eq!(
            s,
            ImportStatus::Importing {
                header: h,
                copied: 30
            }
        );
        assert!(s.to_string().starts_with("INCOMPLETE: 30 of 90"), "{s}");
        let e = complete_dataset(&raw, area).unwrap_err();
        assert!(e.to_string().contains("incomplete"), "{e}");
        raw[64..72].copy_from_slice(&91u64.to_le_bytes());
        let e = status(&raw, area).unwrap_err();
        assert!(e.to_string().contains("progress word"), "{e}");
        raw[128..136].copy_from_slice(&STATE_COMPLETE.to_le_bytes());
        assert_eq!(complete_dataset(&raw, area).unwrap().len(), 90);
        raw[20] ^= 1;
        let e = complete_dataset(&raw, area).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        raw[20] ^= 1;
        raw[130] ^= 1;
        let e = status(&raw, area).unwrap_err();
        assert!(e.to_string().contains("state word"), "{e}");
        let short = Region { off: 0, len: 10 };
        let e = complete_dataset(&raw, short).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        let big = ImportHeader { file_len: 101, ..h };
        raw[..56].copy_from_slice(&big.encode());
        raw[128..136].copy_from_slice(&STATE_COMPLETE.to_le_bytes());
        let e = status(&raw, area).unwrap_err();
        assert!(e.to_string().contains("announces 101 bytes"), "{e}");
        // Crafted lengths near 2^64 are errors, not overflows.
        for file_len in [u64::MAX, u64::MAX - IMPORT_HEADER_LEN + 1] {
            let crafted = ImportHeader { file_len, ..h };
            raw[..56].copy_from_slice(&crafted.encode());
            let e = status(&raw, area).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("announces {file_len} bytes")),
                "{e}"
            );
            assert!(complete_dataset(&raw, area).is_err());
        }
    }

    #[test]
    fn import_then_read_back_and_refuse_another_dataset() {
        let (h, file) = sealed(100, 1);
        let mut pool = sim_pool(SimPm::new(pool_len()));
        assert!(!import(&mut pool, &h, &file).unwrap());
        let raw = pool.raw();
        assert_eq!(&raw[4096..4096 + file.len()], &file[..]);
        assert_eq!(
            status(raw, AREA).unwrap(),
            ImportStatus::Complete {
                header: ImportHeader::of(&h)
            }
        );
        assert_eq!(imported_dataset(raw, AREA).unwrap().len(), 100);
        assert_eq!(complete_dataset(raw, AREA).unwrap(), &file[..]);
        assert!(import(&mut pool, &h, &file).unwrap());
        let (other, _) = sealed(3, 2);
        let before = pool.raw().to_vec();
        match AreaWriter::open(&mut pool, AREA, &other, "other").unwrap() {
            Opened::Foreign(held) => assert_eq!(held, ImportHeader::of(&h)),
            _ => panic!("another dataset was not refused"),
        }
        let (huge, _) = sealed(1000, 3);
        let e = AreaWriter::open(&mut pool, AREA, &huge, "huge.sealed")
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("huge.sealed: "), "{e}");
        assert!(e.to_string().contains("do not fit"), "{e}");
        assert_eq!(pool.raw(), &before[..]);
    }

    #[test]
    fn a_crash_at_every_fence_resumes_to_the_same_bytes() {
        let (h, file) = sealed(60, 4);
        let mut fresh = sim_pool(SimPm::new(pool_len()));
        let base = fresh.backend().fences();
        import(&mut fresh, &h, &file).unwrap();
        let total = fresh.backend().fences() - base;
        assert!(total > 6, "{total} fences");
        let formatted = sim_pool(SimPm::new(pool_len())).backend().persisted_image();
        let mut seen_importing = false;
        for n in 1..=total {
            let mut pool = sim_pool(SimPm::from_image(&formatted));
            pool.backend().crash_at_fence(n);
            let _ = import(&mut pool, &h, &file);
            assert!(pool.backend().crashed());
            let image = pool.backend().persisted_image();
            let mut again = Pool::from_backend(SimPm::from_image(&image)).unwrap();
            if let ImportStatus::Importing { copied, .. } = status(again.raw(), AREA).unwrap() {
                seen_importing = true;
                let c = copied as usize;
                assert_eq!(&again.raw()[4096..4096 + c], &file[..c], "fence {n}");
            }
            assert!(complete_dataset(again.raw(), AREA).is_err() || n == total);
            import(&mut again, &h, &file).unwrap();
            assert_eq!(complete_dataset(again.raw(), AREA).unwrap(), &file[..]);
        }
        assert!(seen_importing);
    }

    #[test]
    fn a_changed_file_is_not_declared_complete() {
        let (h, mut file) = sealed(20, 5);
        file[4] ^= 1;
        let mut pool = sim_pool(SimPm::new(pool_len()));
        let e = import(&mut pool, &h, &file).unwrap_err();
        assert!(
            e.to_string().contains("imported dataset in the pool"),
            "{e}"
        );
        assert!(matches!(
            status(pool.raw(), AREA).unwrap(),
            ImportStatus::Importing { .. }
        ));
        // A valid sealed dataset of the same length, but not the one the
        // import header announced.
        let (_, swapped) = sealed(20, 6);
        let mut pool = sim_pool(SimPm::new(pool_len()));
        let e = import(&mut pool, &h, &swapped).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test file: the file changed while it was being imported"
        );
        assert!(imported_dataset(pool.raw(), AREA).is_err());
    }
}
