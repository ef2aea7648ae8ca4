//! Feeds arbitrary bytes to the pool opener: as a whole pool file (through the
//! file back-end and `inspect_file`), as a memory image, and as byte patches
//! to a valid pool image (to reach recovery and the heap checks). Opening
//! must return a pool or an error, never panic; an opened pool must survive a
//! few transactions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ptm::layout::HEADER_LEN;
use ptm::{MemBackend, Pool, PoolOptions, PtmError};
use std::io::Write;

fn exercise<B: ptm::PmBackend>(pool: &Pool<B>, ops: &[u8]) {
    let _ = pool.read(|v| v.heap_check());
    let _ = pool.write(|tx| {
        let mut live = Vec::new();
        for c in ops.chunks(3).take(32) {
            let arg = u64::from(c.get(1).copied().unwrap_or(0)) << 4;
            match c[0] % 4 {
                0 => live.push(tx.alloc(arg + 1)?),
                1 => {
                    if let Some(a) = live.pop() {
                        tx.free(a)?;
                    }
                }
                2 => {
                    let _ = tx.write(arg * 8, &u64::from(c[0]));
                }
                _ => {
                    let _ = tx.set_root(usize::from(c[0] >> 2), arg);
                }
            }
        }
        if ops.first().is_some_and(|b| b & 0x80 != 0) {
            Err(PtmError::BadRoot { index: 0, count: 0 })
        } else {
            Ok(())
        }
    });
    let _ = pool.read(|v| v.heap_check());
}

fuzz_target!(|data: &[u8]| {
    // 1. The bytes as a pool file.
    let dir = std::env::temp_dir();
    let path = dir.join(format!("ptm-fuzz-{}.pool", std::process::id()));
    if let Ok(mut f) = std::fs::File::create(&path) {
        let _ = f.write_all(data);
        drop(f);
        let _ = ptm::inspect_file(&path);
        let opts = PoolOptions {
            prefault: false,
            ..Default::default()
        };
        if let Ok(pool) = Pool::open(&path, &opts) {
            exercise(&pool, data);
        }
        let _ = std::fs::remove_file(&path);
    }

    // 2. The bytes as a memory image.
    if let Ok(pool) = Pool::from_backend(MemBackend::from_bytes(data)) {
        exercise(&pool, data);
    }

    // 3. The bytes as patches to a valid pool image (with a few blocks
    //    allocated): (offset: u16, value: u8) triples, so damage reaches the
    //    state word, the heap metadata, the block headers and the roots.
    let base = valid_image();
    let mut img = base.to_vec();
    for p in data.chunks_exact(3) {
        let off = usize::from(u16::from_le_bytes([p[0], p[1]])) % img.len();
        img[off] = p[2];
    }
    if let Ok(pool) = Pool::from_backend(MemBackend::from_bytes(&img)) {
        exercise(&pool, data);
    }
});

fn valid_image() -> &'static [u8] {
    static IMG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMG.get_or_init(|| {
        let main = 16 << 10;
        let pool = Pool::format(
            MemBackend::new(HEADER_LEN + 2 * main + 4096, ptm::FlushStrategy::None),
            ptm::PoolSize {
                main: main as u64,
                raw: 4096,
            },
        )
        .expect("format");
        pool.write(|tx| {
            let a = tx.alloc(100)?;
            let b = tx.alloc(3000)?;
            let c = tx.alloc(500)?;
            tx.set_root(0, a)?;
            tx.set_root(1, c)?;
            tx.free(b)
        })
        .expect("setup");
        pool.into_backend().bytes().to_vec()
    })
}
