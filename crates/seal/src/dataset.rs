//! The sealed dataset file: written once by the data owner, imported by the
//! host into persistent memory (or mapped from disk), opened record by record
//! inside the enclave.
//!
//! ```text
//! offset size  field
//!      0    8  magic "PLSEALDS"
//!      8    4  format version (u32 LE) = 1
//!     12    4  split (u32 LE): 0 train, 1 test
//!     16   16  dataset id (random)
//!     32    8  sample count (u64 LE)
//!     40    4  rows (u32 LE)
//!     44    4  cols (u32 LE)
//!     48    4  record length (u32 LE) = rows*cols + 1 + 28
//!     52    4  reserved, 0
//!     56   28  header seal: an empty record sealed with the dataset record key,
//!              AAD = "plinius/dataset-header/v1" ‖ bytes 0..56 (lets the enclave
//!              check the header came from the owner: count, shape, split, id)
//!     84   36  reserved, 0
//!    120    8  checksum: first 8 bytes of SHA-256 of bytes 0..120 (keyless check
//!              for the host: truncation and corruption)
//!    128       records, `sample count` of them, each `record length` bytes
//! ```
//!
//! Record `i` seals `pixels (rows*cols u8) ‖ label (u8)` with associated data
//! `dataset id ‖ i (u64 LE) ‖ "plinius/sample/v1"`, so the host cannot swap,
//! replay, relabel or move samples between datasets.
//!
//! [`DatasetWriter`] writes one into any [`std::io::Write`] sink;
//! [`SealedDataset::parse`] works on any byte slice (a `Vec`, a memory map, a
//! persistent-memory region) and hands out record slices by index.

use crate::error::{Result, SealError};
use std::io::Write;
use zeroize::Zeroizing;

use crate::key::{SealKey, random_fill};
use crate::record::{OVERHEAD, open_into, seal_into, sealed_len};

/// Magic at the start of a sealed dataset.
pub const DATASET_MAGIC: &[u8; 8] = b"PLSEALDS";
/// Format version of the sealed dataset.
pub const DATASET_VERSION: u32 = 1;
/// The magic and version of a sealed dataset.
const DATASET_HEADER: wire::Header = wire::Header {
    magic: DATASET_MAGIC,
    width: wire::VersionWidth::U32,
    version: DATASET_VERSION,
    min_len: HEADER_LEN,
    foreign: "not a Plinius sealed dataset (bad magic)",
    label: "sealed dataset format version",
};
/// Bytes of the header before the first record.
pub const HEADER_LEN: usize = 128;
/// Domain tag at the end of every sample's associated data.
pub const SAMPLE_DOMAIN: &[u8; 17] = b"plinius/sample/v1";
/// Domain tag of the header seal's associated data.
pub const HEADER_DOMAIN: &[u8; 25] = b"plinius/dataset-header/v1";
/// Length of a sample's associated data.
pub const SAMPLE_AAD_LEN: usize = 16 + 8 + SAMPLE_DOMAIN.len();

/// Which part of a dataset a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training samples.
    Train,
    /// Test samples.
    Test,
}

impl Split {
    fn code(self) -> u32 {
        match self {
            Split::Train => 0,
            Split::Test => 1,
        }
    }
    fn from_code(c: u32) -> Option<Self> {
        match c {
            0 => Some(Split::Train),
            1 => Some(Split::Test),
            _ => None,
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// The fields of a sealed dataset header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetHeader {
    /// Train or test.
    pub split: Split,
    /// Random identifier, part of every sample's associated data.
    pub dataset_id: [u8; 16],
    /// Number of records.
    pub sample_count: u64,
    /// Image rows.
    pub rows: u32,
    /// Image columns.
    pub cols: u32,
}

impl DatasetHeader {
    /// Pixels per sample.
    pub fn pixels(&self) -> usize {
        self.rows as usize * self.cols as usize
    }
    /// Plaintext bytes per sample (pixels and the label byte).
    pub fn plain_len(&self) -> usize {
        self.pixels() + 1
    }
    /// Bytes per sealed record.
    pub fn record_len(&self) -> usize {
        sealed_len(self.plain_len())
    }
    /// Total file length.
    pub fn file_len(&self) -> usize {
        HEADER_LEN + self.sample_count as usize * self.record_len()
    }
    /// The dataset id as hex.
    pub fn id_hex(&self) -> String {
        hex::encode(self.dataset_id)
    }

    fn static_fields(&self) -> [u8; 56] {
        let mut w = wire::Writer::with_capacity(56);
        DATASET_HEADER.write(&mut w);
        w.u32(self.split.code());
        w.bytes(&self.dataset_id);
        w.u64(self.sample_count);
        w.u32(self.rows);
        w.u32(self.cols);
        w.u32(self.record_len() as u32);
        w.into_array().expect("52 bytes of fields fit 56")
    }

    /// Encodes the header, sealing its fields with `key` (the dataset record key).
    pub fn encode(&self, key: &SealKey) -> Result<[u8; HEADER_LEN]> {
        let mut out = [0u8; HEADER_LEN];
        let fields = self.static_fields();
        out[..56].copy_from_slice(&fields);
        seal_into(key, &header_aad(&fields), &[], &mut out[56..56 + OVERHEAD])?;
        let c = wire::checksum8(&out[..120]);
        out[120..].copy_from_slice(&c);
        Ok(out)
    }
}

impl DatasetHeader {
    /// A header for `sample_count` samples of `rows x cols` pixels with a
    /// fresh random dataset id (so records of two sealings never mix).
    pub fn with_random_id(split: Split, sample_count: u64, rows: u32, cols: u32) -> Result<Self> {
        let mut dataset_id = [0u8; 16];
        random_fill(&mut dataset_id)?;
        Ok(DatasetHeader {
            split,
            dataset_id,
            sample_count,
            rows,
            cols,
        })
    }
}

/// Writes a sealed dataset into a sink the caller gives (a file, a buffer):
/// the header on creation, then one record per [`push`](Self::push), samples
/// in index order; [`finish`](Self::finish) checks the header's count was
/// met. It does no file I/O of its own.
///
/// ```
/// # fn main() -> seal::Result<()> {
/// use seal::dataset::{DatasetHeader, DatasetWriter, SealedDataset, Split};
/// let key = seal::DatasetKey::generate()?.record_key();
/// let header = DatasetHeader::with_random_id(Split::Train, 2, 2, 2)?;
/// let mut w = DatasetWriter::new(&key, header, Vec::new(), "buffer")?;
/// w.push(&[1, 2, 3, 4], 7)?;
/// w.push(&[5, 6, 7, 8], 9)?;
/// let bytes = w.finish()?;
/// assert_eq!(SealedDataset::parse(&bytes, "buffer")?.len(), 2);
/// # Ok(()) }
/// ```
pub struct DatasetWriter<'k, W: Write> {
    key: &'k SealKey,
    header: DatasetHeader,
    sink: W,
    what: String,
    next: u64,
    /// One sample's plaintext, briefly: cleared when the writer is dropped.
    scratch: Zeroizing<Vec<u8>>,
    record: Vec<u8>,
}

impl<'k, W: Write> DatasetWriter<'k, W> {
    /// Writes the header of `header`, sealed with `key` (the dataset record
    /// key), into `sink`; `what` names the sink in errors (the file it goes to).
    pub fn new(key: &'k SealKey, header: DatasetHeader, sink: W, what: &str) -> Result<Self> {
        let mut w = DatasetWriter {
            key,
            header,
            sink,
            what: what.to_string(),
            next: 0,
            scratch: Zeroizing::new(vec![0u8; header.plain_len()]),
            record: vec![0u8; header.record_len()],
        };
        w.write(&header.encode(key)?)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.sink.write_all(bytes).map_err(|source| SealError::Io {
            path: self.what.clone().into(),
            source,
        })
    }

    /// Seals the next sample (`pixels`: rows × cols bytes, then its `label`)
    /// and writes its record.
    pub fn push(&mut self, pixels: &[u8], label: u8) -> Result<()> {
        if self.next >= self.header.sample_count {
            return Err(SealError::format(
                &self.what,
                format!(
                    "more samples than the {} the header announces",
                    self.header.sample_count
                ),
            ));
        }
        if pixels.len() != self.header.pixels() {
            return Err(SealError::Length {
                what: format!("pixels of sample {} for {}", self.next, self.what),
                actual: pixels.len(),
                expected: self.header.pixels(),
            });
        }
        seal_sample_into(
            self.key,
            &self.header.dataset_id,
            self.next,
            pixels,
            label,
            &mut self.scratch,
            &mut self.record,
        )?;
        let record = std::mem::take(&mut self.record);
        let written = self.write(&record);
        self.record = record;
        written?;
        self.next += 1;
        Ok(())
    }

    /// Samples written so far.
    pub fn written(&self) -> u64 {
        self.next
    }

    /// The header being written.
    pub fn header(&self) -> &DatasetHeader {
        &self.header
    }

    /// Checks that every sample the header announces was written, flushes
    /// the sink and returns it.
    pub fn finish(mut self) -> Result<W> {
        if self.next != self.header.sample_count {
            return Err(SealError::format(
                &self.what,
                format!(
                    "{} samples written, the header announces {}",
                    self.next, self.header.sample_count
                ),
            ));
        }
        self.sink.flush().map_err(|source| SealError::Io {
            path: self.what.clone().into(),
            source,
        })?;
        Ok(self.sink)
    }
}

fn header_aad(fields: &[u8; 56]) -> [u8; 25 + 56] {
    let mut aad = [0u8; 25 + 56];
    aad[..25].copy_from_slice(HEADER_DOMAIN);
    aad[25..].copy_from_slice(fields);
    aad
}

/// The associated data of sample `index` of dataset `dataset_id`.
pub fn sample_aad(dataset_id: &[u8; 16], index: u64) -> [u8; SAMPLE_AAD_LEN] {
    let mut aad = [0u8; SAMPLE_AAD_LEN];
    aad[..16].copy_from_slice(dataset_id);
    aad[16..24].copy_from_slice(&index.to_le_bytes());
    aad[24..].copy_from_slice(SAMPLE_DOMAIN);
    aad
}

/// Seals one sample into `out` (`out.len()` = `sealed_len(pixels.len() + 1)`).
/// `scratch` must be `pixels.len() + 1` bytes; it holds the plaintext briefly
/// and is zeroed before returning.
pub fn seal_sample_into(
    key: &SealKey,
    dataset_id: &[u8; 16],
    index: u64,
    pixels: &[u8],
    label: u8,
    scratch: &mut [u8],
    out: &mut [u8],
) -> Result<()> {
    if scratch.len() != pixels.len() + 1 {
        return Err(SealError::Length {
            what: "sample scratch buffer".into(),
            actual: scratch.len(),
            expected: pixels.len() + 1,
        });
    }
    scratch[..pixels.len()].copy_from_slice(pixels);
    scratch[pixels.len()] = label;
    let r = seal_into(key, &sample_aad(dataset_id, index), scratch, out);
    scratch.fill(0);
    r
}

/// Opens sample `index` of dataset `dataset_id` from its read-only `record`
/// into `out` (`out.len()` = record length − 28 = pixels + 1). On success the
/// pixels are `out[..out.len() - 1]` and the label (also returned) is the last
/// byte. A failure names the sample and the dataset; `out` is then zeroed.
pub fn open_sample(
    key: &SealKey,
    dataset_id: &[u8; 16],
    index: u64,
    record: &[u8],
    out: &mut [u8],
) -> Result<u8> {
    open_into(key, &sample_aad(dataset_id, index), record, out).map_err(|e| {
        e.for_record(format!(
            "sample {index} of dataset {}",
            hex::encode(dataset_id)
        ))
    })?;
    Ok(*out
        .last()
        .expect("sample plaintext holds at least the label"))
}

/// A sealed dataset viewed over a byte slice (file contents, memory map or a
/// persistent-memory region). Parsing checks magic, version, checksum, shape
/// and exact length, without a key.
#[derive(Clone, Copy, Debug)]
pub struct SealedDataset<'a> {
    header: DatasetHeader,
    raw_header: &'a [u8],
    records: &'a [u8],
}

impl<'a> SealedDataset<'a> {
    /// Parses and validates the header of `bytes`; `what` names the source in errors.
    pub fn parse(bytes: &'a [u8], what: &str) -> Result<Self> {
        let header = parse_header(bytes, what)?;
        check_file_len(&header, bytes.len(), what)?;
        Ok(SealedDataset {
            header,
            raw_header: &bytes[..HEADER_LEN],
            records: &bytes[HEADER_LEN..],
        })
    }

    /// Like [`parse`](Self::parse), but the header is parsed (and later
    /// verified, [`verify_header`](Self::verify_header)) from `header`, a
    /// private copy of the first [`HEADER_LEN`] bytes taken with
    /// [`private_header`]; only the records are taken from `bytes` (which
    /// may be shared memory). `bytes` must still be exactly as long as the
    /// header announces.
    pub fn with_header(header: &'a [u8; HEADER_LEN], bytes: &'a [u8], what: &str) -> Result<Self> {
        let fields = parse_header(header, what)?;
        check_file_len(&fields, bytes.len(), what)?;
        Ok(SealedDataset {
            header: fields,
            raw_header: header,
            records: &bytes[HEADER_LEN..],
        })
    }

    /// The header fields.
    pub fn header(&self) -> &DatasetHeader {
        &self.header
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.header.sample_count
    }

    /// Whether the dataset has no samples.
    pub fn is_empty(&self) -> bool {
        self.header.sample_count == 0
    }

    /// All records, back to back.
    pub fn records(&self) -> &'a [u8] {
        self.records
    }

    /// The sealed record of sample `index`.
    pub fn record(&self, index: u64) -> Result<&'a [u8]> {
        if index >= self.header.sample_count {
            return Err(SealError::format(
                format!("dataset {}", self.header.id_hex()),
                format!(
                    "sample index {index} out of range (count {})",
                    self.header.sample_count
                ),
            ));
        }
        let n = self.header.record_len();
        let start = index as usize * n;
        Ok(&self.records[start..start + n])
    }

    /// Checks the header seal with the dataset record key: proves the header
    /// (count, shape, split, id) is the owner's and the key is the right one.
    pub fn verify_header(&self, key: &SealKey) -> Result<()> {
        let fields: [u8; 56] = self.raw_header[..56].try_into().expect("56 bytes");
        let mut empty = [0u8; 0];
        open_into(
            key,
            &header_aad(&fields),
            &self.raw_header[56..56 + OVERHEAD],
            &mut empty,
        )
        .map_err(|e| {
            e.for_record(format!(
                "header of dataset {} (wrong dataset key or forged header)",
                self.header.id_hex()
            ))
        })
    }

    /// Opens sample `index` into `out` (pixels + 1 bytes); returns the label.
    pub fn open_sample(&self, key: &SealKey, index: u64, out: &mut [u8]) -> Result<u8> {
        open_sample(
            key,
            &self.header.dataset_id,
            index,
            self.record(index)?,
            out,
        )
    }
}

/// Checks the header seal of a sealed dataset from its first [`HEADER_LEN`]
/// bytes alone, before its records are at hand: proves the header is the
/// owner's and `key` the right one. Returns the header fields. The header is
/// read once, into a private copy that is then parsed and verified (`bytes`
/// may be memory another party writes concurrently).
pub fn verify_header_bytes(bytes: &[u8], key: &SealKey, what: &str) -> Result<DatasetHeader> {
    let copy = private_header(bytes, what)?;
    let header = parse_header(&copy, what)?;
    SealedDataset {
        header,
        raw_header: &copy,
        records: &[],
    }
    .verify_header(key)?;
    Ok(header)
}

/// Copies the first [`HEADER_LEN`] bytes of `bytes` (a sealed dataset, or
/// its header) into a private array: parse and verify that copy, never the
/// shared bytes, so what is checked is what is used. A clear error if
/// `bytes` is shorter than a header.
pub fn private_header(bytes: &[u8], what: &str) -> Result<[u8; HEADER_LEN]> {
    let head = bytes.get(..HEADER_LEN).ok_or_else(|| {
        SealError::format(
            what,
            format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ),
        )
    })?;
    let mut copy = [0u8; HEADER_LEN];
    copy.copy_from_slice(head);
    Ok(copy)
}

/// Checks a file of `len` bytes is exactly as long as `header` announces.
fn check_file_len(header: &DatasetHeader, len: usize, what: &str) -> Result<()> {
    let expected = header.file_len();
    if len != expected {
        return Err(SealError::format(
            what,
            format!(
                "{len} bytes, but the header announces {} records of {} bytes ({expected} bytes): \
                 truncated or extended",
                header.sample_count,
                header.record_len()
            ),
        ));
    }
    Ok(())
}

/// Parses and validates a dataset header (the first [`HEADER_LEN`] bytes).
pub fn parse_header(bytes: &[u8], what: &str) -> Result<DatasetHeader> {
    if bytes.len() < HEADER_LEN {
        return Err(SealError::format(
            what,
            format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ),
        ));
    }
    let mut r = DATASET_HEADER.check(bytes, what)?;
    if !wire::checksum_ok(bytes, 120) {
        return Err(SealError::format(
            what,
            "header checksum mismatch (corrupted header)",
        ));
    }
    let code = r.u32("split")?;
    let split = Split::from_code(code)
        .ok_or_else(|| SealError::format(what, format!("unknown split code {code}")))?;
    let header = DatasetHeader {
        split,
        dataset_id: r.array("dataset id")?,
        sample_count: r.u64("sample count")?,
        rows: r.u32("rows")?,
        cols: r.u32("cols")?,
    };
    let record_len = r.u32("record length")?;
    if header.rows == 0 || header.cols == 0 || header.pixels() > (1 << 28) {
        return Err(SealError::format(
            what,
            format!("implausible sample shape {}x{}", header.rows, header.cols),
        ));
    }
    if record_len as usize != header.record_len() {
        return Err(SealError::format(
            what,
            format!(
                "record length {} does not match shape {}x{} (expected {})",
                record_len,
                header.rows,
                header.cols,
                header.record_len()
            ),
        ));
    }
    if header.sample_count > (u64::MAX / 2) / header.record_len() as u64 {
        return Err(SealError::format(what, "implausible sample count"));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::DatasetKey;

    fn build(key: &SealKey, n: u64, rows: u32, cols: u32) -> (DatasetHeader, Vec<u8>) {
        let header = DatasetHeader {
            split: Split::Train,
            dataset_id: [0x42; 16],
            sample_count: n,
            rows,
            cols,
        };
        let mut bytes = header.encode(key).unwrap().to_vec();
        let px = header.pixels();
        let mut scratch = vec![0u8; px + 1];
        for i in 0..n {
            let pixels: Vec<u8> = (0..px).map(|p| (p as u64 * 7 + i) as u8).collect();
            let mut rec = vec![0u8; header.record_len()];
            seal_sample_into(
                key,
                &header.dataset_id,
                i,
                &pixels,
                (i % 10) as u8,
                &mut scratch,
                &mut rec,
            )
            .unwrap();
            bytes.extend_from_slice(&rec);
        }
        (header, bytes)
    }

    #[test]
    fn write_parse_open() {
        let dk = DatasetKey::generate().unwrap();
        let key = dk.record_key();
        let (header, bytes) = build(&key, 5, 3, 4);
        let ds = SealedDataset::parse(&bytes, "t").unwrap();
        assert_eq!(*ds.header(), header);
        ds.verify_header(&key).unwrap();
        let mut out = vec![0u8; 13];
        for i in 0..5 {
            assert_eq!(ds.open_sample(&key, i, &mut out).unwrap(), (i % 10) as u8);
            assert_eq!(out[1], (7 + i) as u8);
        }
        assert!(ds.record(5).is_err());
    }

    #[test]
    fn the_header_is_parsed_and_verified_from_its_private_copy() {
        let key = DatasetKey::generate().unwrap().record_key();
        let (header, mut shared) = build(&key, 3, 2, 2);
        let copy = private_header(&shared, "pool").unwrap();
        // The host rewrites the shared header after the copy (another count,
        // re-checksummed): parsing and verifying the copy sees the owner's.
        shared[32..40].copy_from_slice(&1u64.to_le_bytes());
        let c = wire::checksum8(&shared[..120]);
        shared[120..128].copy_from_slice(&c);
        let ds = SealedDataset::with_header(&copy, &shared, "pool").unwrap();
        assert_eq!(*ds.header(), header);
        ds.verify_header(&key).unwrap();
        let mut out = vec![0u8; 5];
        assert_eq!(ds.open_sample(&key, 2, &mut out).unwrap(), 2);
        // The rewritten header itself parses (the checksum is keyless) but
        // fails the seal; a short source is a clear error.
        let forged = private_header(&shared, "pool").unwrap();
        assert!(verify_header_bytes(&forged, &key, "pool").is_err());
        assert_eq!(verify_header_bytes(&copy, &key, "pool").unwrap(), header);
        let e = private_header(&shared[..100], "pool")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool") && e.contains("shorter"), "{e}");
        let e = SealedDataset::with_header(&copy, &shared[..shared.len() - 1], "pool");
        assert!(e.unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn wrong_index_dataset_or_key_fails() {
        let key = DatasetKey::generate().unwrap().record_key();
        let (header, bytes) = build(&key, 3, 2, 2);
        let ds = SealedDataset::parse(&bytes, "t").unwrap();
        let mut out = vec![0u8; 5];
        let rec1 = ds.record(1).unwrap();
        let e = open_sample(&key, &header.dataset_id, 2, rec1, &mut out).unwrap_err();
        assert!(e.to_string().contains("sample 2 of dataset 4242"), "{e}");
        assert!(open_sample(&key, &[0x43; 16], 1, rec1, &mut out).is_err());
        let other = DatasetKey::generate().unwrap().record_key();
        assert!(open_sample(&other, &header.dataset_id, 1, rec1, &mut out).is_err());
        assert!(ds.verify_header(&other).is_err());
        open_sample(&key, &header.dataset_id, 1, rec1, &mut out).unwrap();
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let key = DatasetKey::generate().unwrap().record_key();
        let (_, bytes) = build(&key, 3, 2, 2);
        let e = SealedDataset::parse(&bytes[..bytes.len() - 1], "train.sealed").unwrap_err();
        assert!(
            e.to_string().contains("train.sealed") && e.to_string().contains("truncated"),
            "{e}"
        );
        assert!(SealedDataset::parse(&bytes[..100], "x").is_err());
        assert!(SealedDataset::parse(b"", "x").is_err());
        for i in 0..HEADER_LEN {
            let mut bad = bytes.clone();
            bad[i] ^= 4;
            // Either rejected by the checksum / field checks, or (reserved bytes
            // outside the checksum do not exist: all 128 bytes are covered)...
            assert!(SealedDataset::parse(&bad, "x").is_err(), "header byte {i}");
        }
        // A header re-checksummed by an attacker with another count fails the seal.
        let mut forged = bytes.clone();
        forged[32..40].copy_from_slice(&2u64.to_le_bytes());
        let c = wire::checksum8(&forged[..120]);
        forged[120..128].copy_from_slice(&c);
        let forged = &forged[..forged.len() - 33];
        let ds = SealedDataset::parse(forged, "x").unwrap();
        assert!(ds.verify_header(&key).is_err());
    }

    #[test]
    fn writer_matches_the_format_and_checks_counts() {
        let key = DatasetKey::generate().unwrap().record_key();
        let (header, built) = build(&key, 4, 3, 2);
        let mut w = DatasetWriter::new(&key, header, Vec::new(), "buf").unwrap();
        for i in 0..4u64 {
            let pixels: Vec<u8> = (0..6u64).map(|p| (p * 7 + i) as u8).collect();
            w.push(&pixels, (i % 10) as u8).unwrap();
            assert_eq!(w.written(), i + 1);
        }
        let e = w.push(&[0; 6], 1).unwrap_err();
        assert!(e.to_string().contains("more samples"), "{e}");
        let bytes = w.finish().unwrap();
        // Same layout as the hand-built file: plain fields and lengths equal
        // (nonces differ), and every record opens to the same sample.
        assert_eq!(bytes.len(), built.len());
        assert_eq!(&bytes[..56], &built[..56]);
        assert_eq!(&bytes[84..120], &built[84..120]);
        let ds = SealedDataset::parse(&bytes, "buf").unwrap();
        ds.verify_header(&key).unwrap();
        let theirs = SealedDataset::parse(&built, "built").unwrap();
        let (mut a, mut b) = (vec![0u8; 7], vec![0u8; 7]);
        for i in 0..4 {
            assert_eq!(
                ds.open_sample(&key, i, &mut a).unwrap(),
                theirs.open_sample(&key, i, &mut b).unwrap()
            );
            assert_eq!(a, b);
        }
        // Too few samples, or a sample of the wrong size.
        let mut w = DatasetWriter::new(&key, header, Vec::new(), "short").unwrap();
        let e = w.push(&[0; 5], 0).unwrap_err();
        assert!(
            e.to_string().contains("pixels of sample 0 for short"),
            "{e}"
        );
        w.push(&[0; 6], 0).unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(
            e.contains("short") && e.contains("1 samples written"),
            "{e}"
        );
    }

    #[test]
    fn writer_reports_sink_errors_and_ids_are_random() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let key = DatasetKey::generate().unwrap().record_key();
        let h = DatasetHeader::with_random_id(Split::Test, 1, 1, 1).unwrap();
        let e = DatasetWriter::new(&key, h, Broken, "out.sealed")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("out.sealed") && e.contains("disk full"), "{e}");
        let h2 = DatasetHeader::with_random_id(Split::Test, 1, 1, 1).unwrap();
        assert_ne!(h.dataset_id, h2.dataset_id);
        assert_eq!(
            (h2.split, h2.sample_count, h2.rows, h2.cols),
            (Split::Test, 1, 1, 1)
        );
    }
}
