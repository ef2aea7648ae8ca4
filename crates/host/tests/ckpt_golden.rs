//! Golden fixture of the `ssd` checkpoint file, version 1: decoded and
//! re-encoded (the frame is deterministic). Written only when missing and
//! `PLINIUS_BLESS=1`.

use std::path::{Path, PathBuf};

use host::ckpt::{CKPT_HEADER_LEN, read_checkpoint, write_checkpoint};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/job.ckpt")
}

fn image() -> Vec<u8> {
    (0..300u32).map(|i| (i * 17 + 3) as u8).collect()
}

#[test]
fn ssd_checkpoint_file_v1() {
    let p = fixture();
    if !p.exists() && std::env::var_os("PLINIUS_BLESS").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_checkpoint(&p, &image()).unwrap();
    }
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"PLCKPT\0\0");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    assert_eq!(bytes.len(), CKPT_HEADER_LEN + 300);
    assert_eq!(read_checkpoint(&p).unwrap(), image());
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("again.ckpt");
    write_checkpoint(&q, &image()).unwrap();
    assert_eq!(std::fs::read(&q).unwrap(), bytes);
}
