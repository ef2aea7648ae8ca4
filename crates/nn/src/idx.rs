//! MNIST IDX files (raw or gzip): `u32` big-endian magic `0x00000803` for
//! images (then count, rows, cols) or `0x00000801` for labels (then count),
//! then the bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest IDX file accepted after decompression (the MNIST training images
/// are 47 MB).
const MAX_BYTES: u64 = 1 << 31;

/// Errors loading IDX files.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or read (or its gzip stream is corrupt).
    /// The message names the file; the cause is the error's `source`.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The magic number is not the expected one.
    #[error("{path}: bad magic 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Magic found.
        found: u32,
        /// Magic expected.
        expected: u32,
        /// What kind of IDX file was expected.
        what: &'static str,
    },
    /// The file is shorter than its header says.
    #[error("{path}: truncated: the header announces {expected} bytes, the file has {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes announced.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error("{path}: {extra} unexpected bytes after the announced data")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Extra bytes.
        extra: u64,
    },
    /// Images and labels do not go together.
    #[error("{0}")]
    Mismatch(String),
}

/// Images of an IDX file: `count` images of `rows x cols` u8 pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// Pixels, image after image, row-major.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// The bytes of an IDX file as stored (raw or gzip), decompressed when they
/// start with the gzip magic (`path` names the file in errors).
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_BYTES)
            .read_to_end(&mut out)
            .map_err(|source| IdxError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    what: &'static str,
    dims: usize,
) -> Result<Vec<u64>, IdxError> {
    let head = 4 * (1 + dims);
    if bytes.len() < head {
        return Err(IdxError::Truncated {
            path: path.into(),
            expected: head as u64,
            actual: bytes.len() as u64,
        });
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) != magic {
        return Err(IdxError::BadMagic {
            path: path.into(),
            found: word(0),
            expected: magic,
            what,
        });
    }
    let d: Vec<u64> = (1..=dims).map(|i| u64::from(word(i))).collect();
    let expected = d.iter().product::<u64>() + head as u64;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(IdxError::Truncated {
            path: path.into(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(IdxError::TrailingBytes {
            path: path.into(),
            extra: actual - expected,
        });
    }
    Ok(d)
}

/// Parses an images file already in memory (`path` names it in errors).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<Images, IdxError> {
    let d = header(path, bytes, 0x0000_0803, "IDX images: u8, 3 dimensions", 3)?;
    Ok(Images {
        count: d[0] as usize,
        rows: d[1] as usize,
        cols: d[2] as usize,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses a labels file already in memory.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    header(path, bytes, 0x0000_0801, "IDX labels: u8, 1 dimension", 1)?;
    Ok(bytes[8..].to_vec())
}

/// Parses an IDX images file as stored (raw or gzip).
pub fn parse_images_file(path: &Path, stored: Vec<u8>) -> Result<Images, IdxError> {
    parse_images(path, &decompress(path, stored)?)
}

/// Parses an IDX labels file as stored (raw or gzip).
pub fn parse_labels_file(path: &Path, stored: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    parse_labels(path, &decompress(path, stored)?)
}

/// One split of MNIST: images with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The images.
    pub images: Images,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The MNIST dataset: training and test splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// 60,000 training samples.
    pub train: Split,
    /// 10,000 test samples.
    pub test: Split,
}

impl Split {
    /// Pairs `images` with `labels` (`origin` names them in errors): they
    /// must be as many.
    pub fn new(images: Images, labels: Vec<u8>, origin: &str) -> Result<Split, IdxError> {
        if images.count != labels.len() {
            return Err(IdxError::Mismatch(format!(
                "{origin}: {} images but {} labels",
                images.count,
                labels.len()
            )));
        }
        Ok(Split { images, labels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_file(count: u32, rows: u32, cols: u32, data: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [0x803u32, count, rows, cols] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend((0..data).map(|i| i as u8));
        v
    }

    #[test]
    fn parses_and_rejects() {
        let p = Path::new("x.idx");
        let ok = parse_images(p, &images_file(2, 2, 3, 12)).unwrap();
        assert_eq!((ok.count, ok.rows, ok.cols), (2, 2, 3));
        assert_eq!(ok.image(1), &[6, 7, 8, 9, 10, 11]);
        let e = parse_images(p, &images_file(2, 2, 3, 11)).unwrap_err();
        assert!(
            matches!(
                e,
                IdxError::Truncated {
                    expected: 28,
                    actual: 27,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("x.idx"));
        let e = parse_images(p, &images_file(2, 2, 3, 13)).unwrap_err();
        assert!(matches!(e, IdxError::TrailingBytes { extra: 1, .. }));
        let mut bad = images_file(2, 2, 3, 12);
        bad[3] = 0x01;
        let e = parse_images(p, &bad).unwrap_err();
        assert!(matches!(e, IdxError::BadMagic { found: 0x801, .. }), "{e}");
        assert!(matches!(
            parse_labels(p, &[0, 0, 8]).unwrap_err(),
            IdxError::Truncated { .. }
        ));
        let e = parse_labels(p, &images_file(2, 2, 3, 12)).unwrap_err();
        assert!(matches!(e, IdxError::BadMagic { .. }));
    }

    #[test]
    fn decompresses_gzip_and_passes_raw_bytes() {
        let p = Path::new("b.gz");
        let raw = images_file(1, 2, 2, 4);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        assert_eq!(
            parse_images_file(p, raw.clone()).unwrap(),
            parse_images_file(p, gz.finish().unwrap()).unwrap()
        );
        // A corrupt gzip stream is an I/O error naming the file, not a panic.
        let e = parse_images_file(Path::new("c.gz"), vec![0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap_err();
        assert!(
            matches!(e, IdxError::Io { .. }) && e.to_string().contains("c.gz"),
            "{e}"
        );
    }
}
