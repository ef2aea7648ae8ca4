//! The transactional allocator. Its metadata lives in main, so every change goes
//! through the transaction's redo log like any other write: a crash never leaks
//! or double-allocates.
//!
//! Main starts with `[heap magic][heap start][heap end]` (offset 0), the root
//! table (offset 64, [`ROOT_COUNT`] u64 slots) and, from offset 1024, the heap: a
//! sequence of blocks tiling `[heap start, heap end)` exactly. A block is a 64-byte
//! header `[size u64][tag u64]` followed by its payload (64-byte aligned); the tag
//! says used or free and is bound to the size. Allocation is first fit with lazy
//! coalescing of neighbouring free blocks (O(blocks): the pools hold a few large
//! buffers).

use crate::error::{PtmError, Result};
use crate::pool::Tx;
use std::path::Path;

/// The number of root slots.
pub const ROOT_COUNT: usize = 64;
pub(crate) const HEAP_MAGIC: u64 = u64::from_le_bytes(*b"PTMHEAP1");
pub(crate) const ROOTS_OFF: usize = 64;
/// Offset in main where the heap starts (the first block header).
pub const HEAP_START: usize = 1024;
/// Bytes of a block header (also the payload alignment).
pub const BLOCK_HDR: usize = 64;
const MIN_BLOCK: u64 = 128;
const TAG_USED: u64 = 0x55ED_B10C_A110_C8ED;
const TAG_FREE: u64 = 0xF4EE_B10C_0F4E_E0FF;

/// What a walk of the heap found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Number of blocks.
    pub blocks: u64,
    /// Number of allocated blocks.
    pub used_blocks: u64,
    /// Bytes in allocated blocks (headers included).
    pub used_bytes: u64,
    /// Bytes in free blocks (headers included).
    pub free_bytes: u64,
}

fn rd(main: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(main[off..off + 8].try_into().expect("8 bytes"))
}

fn corrupt(name: &Path, what: String) -> PtmError {
    PtmError::CorruptHeap {
        path: name.to_path_buf(),
        what,
    }
}

/// Writes fresh heap metadata into a zeroed main: one free block spanning the heap.
pub(crate) fn init(main: &mut [u8]) {
    let end = main.len() as u64;
    main[0..8].copy_from_slice(&HEAP_MAGIC.to_le_bytes());
    main[8..16].copy_from_slice(&(HEAP_START as u64).to_le_bytes());
    main[16..24].copy_from_slice(&end.to_le_bytes());
    let size = end - HEAP_START as u64;
    main[HEAP_START..HEAP_START + 8].copy_from_slice(&size.to_le_bytes());
    main[HEAP_START + 8..HEAP_START + 16].copy_from_slice(&(TAG_FREE ^ size).to_le_bytes());
}

/// Checks the heap's fixed metadata (magic and bounds).
pub(crate) fn check_meta(main: &[u8], name: &Path) -> Result<()> {
    if main.len() < HEAP_START + MIN_BLOCK as usize {
        return Err(corrupt(
            name,
            format!("main of {} bytes is too small", main.len()),
        ));
    }
    if rd(main, 0) != HEAP_MAGIC {
        return Err(corrupt(name, "bad heap magic".into()));
    }
    let (start, end) = (rd(main, 8), rd(main, 16));
    if start != HEAP_START as u64 || end != main.len() as u64 {
        return Err(corrupt(
            name,
            format!(
                "heap bounds {start}..{end}, expected {HEAP_START}..{}",
                main.len()
            ),
        ));
    }
    Ok(())
}

/// Reads and validates the block header at `b`: (size, used).
fn block_at(main: &[u8], b: usize, name: &Path) -> Result<(u64, bool)> {
    let end = main.len();
    if b + BLOCK_HDR > end {
        return Err(corrupt(
            name,
            format!("block header at {b} past the heap end {end}"),
        ));
    }
    let size = rd(main, b);
    let tag = rd(main, b + 8);
    if size < MIN_BLOCK || size % BLOCK_HDR as u64 != 0 || size > (end - b) as u64 {
        return Err(corrupt(name, format!("block at {b} has bad size {size}")));
    }
    if tag == TAG_USED ^ size {
        Ok((size, true))
    } else if tag == TAG_FREE ^ size {
        Ok((size, false))
    } else {
        Err(corrupt(name, format!("block at {b} has a bad tag")))
    }
}

/// Walks every block and checks they tile the heap exactly.
pub(crate) fn walk(main: &[u8], name: &Path) -> Result<HeapStats> {
    check_meta(main, name)?;
    let mut st = HeapStats::default();
    let mut b = HEAP_START;
    while b < main.len() {
        let (size, used) = block_at(main, b, name)?;
        st.blocks += 1;
        if used {
            st.used_blocks += 1;
            st.used_bytes += size;
        } else {
            st.free_bytes += size;
        }
        b += size as usize;
    }
    Ok(st)
}

/// The payload length of the allocated block whose payload starts at `off`.
pub(crate) fn block_len(main: &[u8], off: u64, name: &Path) -> Result<u64> {
    let bad = || PtmError::BadFree {
        path: name.to_path_buf(),
        off,
    };
    let off_us = usize::try_from(off).map_err(|_| bad())?;
    if off_us < HEAP_START + BLOCK_HDR || off_us % BLOCK_HDR != 0 || off_us >= main.len() {
        return Err(bad());
    }
    let b = off_us - BLOCK_HDR;
    match block_at(main, b, name) {
        Ok((size, true)) => Ok(size - BLOCK_HDR as u64),
        _ => Err(bad()),
    }
}

fn write_hdr(tx: &mut Tx<'_>, b: usize, size: u64, used: bool) -> Result<()> {
    let tag = if used { TAG_USED } else { TAG_FREE } ^ size;
    tx.write(b as u64, &[size, tag])
}

/// Allocates `len` bytes (rounded up to 64) inside the transaction; returns the
/// payload offset in main (64-byte aligned, never 0).
pub(crate) fn alloc(tx: &mut Tx<'_>, len: u64) -> Result<u64> {
    let main_len = tx.main_len() as u64;
    let out_of_space = |tx: &Tx<'_>| PtmError::OutOfSpace {
        path: tx.name().to_path_buf(),
        requested: len,
    };
    if len > main_len {
        return Err(out_of_space(tx));
    }
    let need = len.max(1).div_ceil(BLOCK_HDR as u64) * BLOCK_HDR as u64 + BLOCK_HDR as u64;
    let need = need.max(MIN_BLOCK);
    check_meta(tx.main(), tx.name())?;
    let end = tx.main_len();
    let mut b = HEAP_START;
    while b < end {
        let (size, used) = block_at(tx.main(), b, tx.name())?;
        if used {
            b += size as usize;
            continue;
        }
        // Lazily merge the free blocks that follow.
        let mut s = size;
        while b + (s as usize) < end {
            let (ns, nused) = block_at(tx.main(), b + s as usize, tx.name())?;
            if nused {
                break;
            }
            s += ns;
        }
        if s >= need {
            if s - need >= MIN_BLOCK {
                write_hdr(tx, b + need as usize, s - need, false)?;
                write_hdr(tx, b, need, true)?;
            } else {
                write_hdr(tx, b, s, true)?;
            }
            return Ok((b + BLOCK_HDR) as u64);
        }
        if s != size {
            write_hdr(tx, b, s, false)?;
        }
        b += s as usize;
    }
    Err(out_of_space(tx))
}

/// Frees the block whose payload starts at `off`.
pub(crate) fn free(tx: &mut Tx<'_>, off: u64) -> Result<()> {
    let payload = block_len(tx.main(), off, tx.name())?;
    let b = off as usize - BLOCK_HDR;
    write_hdr(tx, b, payload + BLOCK_HDR as u64, false)
}

/// Reads root slot `i`.
pub(crate) fn root(main: &[u8], i: usize) -> Result<u64> {
    if i >= ROOT_COUNT {
        return Err(PtmError::BadRoot {
            index: i,
            count: ROOT_COUNT,
        });
    }
    Ok(rd(main, ROOTS_OFF + 8 * i))
}

/// The offset in main of root slot `i`.
pub(crate) fn root_off(i: usize) -> Result<u64> {
    if i >= ROOT_COUNT {
        return Err(PtmError::BadRoot {
            index: i,
            count: ROOT_COUNT,
        });
    }
    Ok((ROOTS_OFF + 8 * i) as u64)
}
