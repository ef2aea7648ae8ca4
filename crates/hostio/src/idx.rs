//! MNIST IDX files (raw or gzip) read from disk; parsing is
//! [`nn::idx`]'s.

use std::path::{Path, PathBuf};

use nn::idx::{IdxError, Images, Mnist, Split, parse_images_file, parse_labels_file};

fn read(path: &Path) -> Result<Vec<u8>, IdxError> {
    std::fs::read(path).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads an IDX images file (raw or gzip).
pub fn read_images(path: &Path) -> Result<Images, IdxError> {
    parse_images_file(path, read(path)?)
}

/// Reads an IDX labels file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    parse_labels_file(path, read(path)?)
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
    Split::new(images, labels, &dir.display().to_string())
}

/// Loads `train-*` and `t10k-*` files from `dir` (raw or `.gz`).
pub fn load_mnist(dir: &Path) -> Result<Mnist, IdxError> {
    Ok(Mnist {
        train: load_split(dir, "train")?,
        test: load_split(dir, "t10k")?,
    })
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
        let e = load_mnist(dir.path()).unwrap_err();
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
