//! Feeds arbitrary bytes to the pool opener: as a whole pool file (through the
//! file back-end and `inspect_file`), as a memory image, and as the contents of
//! main behind a valid header (to reach recovery and the heap checks). Opening
//! must return a pool or an error, never panic; an opened pool must survive a
//! few transactions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ptm::layout::{HEADER_LEN, MAGIC, PoolState, STATE_OFF, encode_static};
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

    // 3. The bytes as main (and back) behind a valid header.
    if data.len() < 2 {
        return;
    }
    let main_len = (data.len() - 1).div_ceil(4096).max(1) * 4096;
    let mut img = vec![0u8; HEADER_LEN + 2 * main_len];
    encode_static(&mut img[..HEADER_LEN], main_len as u64, 0);
    img[..8].copy_from_slice(&MAGIC);
    let state =
        [PoolState::Idle, PoolState::Mutating, PoolState::Copying][usize::from(data[0] % 3)];
    img[STATE_OFF..STATE_OFF + 8].copy_from_slice(&state.word().to_le_bytes());
    let body = &data[1..];
    img[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(body);
    let back = HEADER_LEN + main_len;
    img[back..back + body.len()].copy_from_slice(body);
    if data[0] & 4 != 0 {
        // Let the heap metadata be well formed so the walk goes further.
        img[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(b"PTMHEAP1");
        img[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&1024u64.to_le_bytes());
        img[HEADER_LEN + 16..HEADER_LEN + 24].copy_from_slice(&(main_len as u64).to_le_bytes());
    }
    if let Ok(pool) = Pool::from_backend(MemBackend::from_bytes(&img)) {
        exercise(&pool, body);
    }
});
