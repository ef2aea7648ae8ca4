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

/// Reads a whole file, decompressing it when it starts with the gzip magic.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_BYTES)
            .read_to_end(&mut out)
            .map_err(io)?;
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

/// Reads an IDX images file (raw or gzip).
pub fn read_images(path: &Path) -> Result<Images, IdxError> {
    parse_images(path, &read_maybe_gzip(path)?)
}

/// Reads an IDX labels file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    parse_labels(path, &read_maybe_gzip(path)?)
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

/// Finds `name` or `name.gz` in `dir`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, IdxError> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(IdxError::Io {
        path: dir.join(format!("{name}[.gz]")),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (raw or .gz)"),
    })
}

/// Loads one split (`prefix` is `train` or `t10k`) from `dir`.
pub fn load_split(dir: &Path, prefix: &str) -> Result<Split, IdxError> {
    let images = read_images(&find(dir, &format!("{prefix}-images-idx3-ubyte"))?)?;
    let labels = read_labels(&find(dir, &format!("{prefix}-labels-idx1-ubyte"))?)?;
    if images.count != labels.len() {
        return Err(IdxError::Mismatch(format!(
            "{}: {} images but {} labels",
            dir.display(),
            images.count,
            labels.len()
        )));
    }
    Ok(Split { images, labels })
}

impl Mnist {
    /// Loads `train-*` and `t10k-*` files from `dir` (raw or `.gz`).
    pub fn load(dir: &Path) -> Result<Mnist, IdxError> {
        Ok(Mnist {
            train: load_split(dir, "train")?,
            test: load_split(dir, "t10k")?,
        })
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
    fn reads_gzip_and_raw_files() {
        let dir = tempfile::tempdir().unwrap();
        let raw = images_file(1, 2, 2, 4);
        std::fs::write(dir.path().join("a"), &raw).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        std::fs::write(dir.path().join("b.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(
            read_images(&dir.path().join("a")).unwrap(),
            read_images(&dir.path().join("b.gz")).unwrap()
        );
        // A corrupt gzip stream is an I/O error naming the file, not a panic.
        std::fs::write(dir.path().join("c.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let e = read_images(&dir.path().join("c.gz")).unwrap_err();
        assert!(
            matches!(e, IdxError::Io { .. }) && e.to_string().contains("c.gz"),
            "{e}"
        );
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
    }

    #[test]
    fn io_errors_say_their_cause_once() {
        use std::error::Error;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let missing = load_split(dir.path(), "t10k").unwrap_err();
        let corrupt = read_images(&dir.path().join("c.gz")).unwrap_err();
        for e in [missing, corrupt] {
            let cause = e.source().expect("the I/O error is the source").to_string();
            // The cause is chained, not also printed in the error's own message.
            assert!(!e.to_string().contains(&cause), "{e} / {cause}");
        }
    }
}
