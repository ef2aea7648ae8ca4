//! A pool with 1 GiB of main (a 2 GiB file) on /dev/shm: allocation across the
//! whole range, a 256 MiB write in one transaction, reopen. Skipped (with a
//! message) when /dev/shm is missing or has too little free space.
// Tests and examples may do I/O (files, environment, printing).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use ptm::{Pool, PoolOptions, PoolSize, PtmError};
use std::path::Path;
use std::time::Instant;

fn free_bytes(p: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: valid C string and a zeroed statvfs buffer for the call to fill.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &raw mut st) != 0 {
            return None;
        }
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

#[test]
fn one_gib_pool() {
    const GIB: u64 = 1 << 30;
    let shm = Path::new("/dev/shm");
    let need = 2 * GIB + (512 << 20);
    match free_bytes(shm) {
        None => {
            eprintln!("SKIPPED: /dev/shm is missing");
            return;
        }
        Some(f) if f < need => {
            eprintln!(
                "SKIPPED: /dev/shm has {} MiB free, the test needs {} MiB",
                f >> 20,
                need >> 20
            );
            return;
        }
        _ => {}
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("big.pool");
    let t = Instant::now();
    let pool = Pool::create(
        &path,
        PoolSize { main: GIB, raw: 0 },
        &PoolOptions::default(),
    )
    .unwrap();
    println!(
        "created a pool with 1 GiB main in {:?} ({})",
        t.elapsed(),
        pool.flush_strategy()
    );
    let chunk = 256u64 << 20;
    let t = Instant::now();
    let offs = pool
        .write(|tx| {
            let mut offs = Vec::new();
            for i in 0..3u64 {
                let a = tx.alloc(chunk)?;
                tx.bytes_mut(a, chunk as usize)?.fill(i as u8 + 1);
                tx.set_root(i as usize, a)?;
                offs.push(a);
            }
            Ok::<_, PtmError>(offs)
        })
        .unwrap();
    println!("one transaction writing 768 MiB: {:?}", t.elapsed());
    // The last allocation ends beyond 512 MiB: offsets above 2^29 work.
    assert!(offs[2] + chunk > 3 * (GIB / 4));
    // A 256 MiB overwrite in one transaction.
    let t = Instant::now();
    pool.write(|tx| tx.bytes_mut(offs[1], chunk as usize).map(|b| b.fill(0xEE)))
        .unwrap();
    println!("one transaction rewriting 256 MiB: {:?}", t.elapsed());
    // Out of space: one more 256 MiB block does not fit; rolled back.
    let r = pool.write(|tx| {
        tx.alloc(chunk)?;
        tx.alloc(chunk)
    });
    assert!(matches!(r, Err(PtmError::OutOfSpace { .. })));
    drop(pool);
    let pool = Pool::open(&path, &PoolOptions::default()).unwrap();
    pool.read(|v| {
        for (i, want) in [(0usize, 1u8), (1, 0xEE), (2, 3)] {
            let a = v.root(i).unwrap();
            let b = v.bytes(a, chunk as usize).unwrap();
            assert!(b[0] == want && b[b.len() - 1] == want && b[b.len() / 2] == want);
        }
        assert_eq!(v.heap_check().unwrap().used_blocks, 3);
    });
}
