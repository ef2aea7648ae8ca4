//! The seam under a pool: the memory a pool lives in, and how its lines are made
//! persistent. Three back-ends: a mapped file ([`crate::FileBackend`]), plain
//! volatile memory ([`MemBackend`], for tests and benchmarks) and the simulated
//! PM ([`crate::SimPm`], for crash tests).

use crate::flush::{self, FlushStrategy, LINE};
use std::alloc::Layout;
use std::path::Path;

/// The memory under a pool.
///
/// The region `[as_ptr(), as_ptr() + len())` stays valid and at the same address
/// for the back-end's whole life; the pool reads and writes it directly and calls
/// [`flush`](PmBackend::flush) and [`fence`](PmBackend::fence) to make writes
/// persistent: a line is persistent once flushed and then fenced.
pub trait PmBackend: Send + Sync {
    /// Start of the region (page aligned).
    fn as_ptr(&self) -> *mut u8;
    /// Length of the region in bytes.
    fn len(&self) -> usize;
    /// Whether the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Starts writing back the lines overlapping `[off, off + len)` (no ordering).
    /// Out-of-range parts are ignored.
    fn flush(&self, off: usize, len: usize);
    /// Waits until every line flushed before is persistent.
    fn fence(&self);
    /// The flush strategy in use.
    fn strategy(&self) -> FlushStrategy;
    /// When a transaction writes back the lines it stores (see [`StoreFlush`]).
    /// The default: during the transaction through [`flush`](PmBackend::flush)
    /// for a cache-line strategy, never for eadr and none, at commit for
    /// msync.
    fn store_flush(&self) -> StoreFlush {
        match self.strategy() {
            s if s.is_cache_line() => StoreFlush::Call,
            FlushStrategy::Eadr | FlushStrategy::None => StoreFlush::Never,
            _ => StoreFlush::AtCommit,
        }
    }
    /// [`flush`](PmBackend::flush)es each range of whole lines `[a, b)` (line
    /// indices counted from `base`, a line-aligned offset).
    fn flush_lines(&self, base: usize, lines: &[(usize, usize)]) {
        for &(a, b) in lines {
            self.flush(base + a * LINE, (b - a) * LINE);
        }
    }
    /// [`write_persist`](PmBackend::write_persist)s each range of whole lines
    /// `[a, b)` (counted from the line-aligned offset `base`), taking their bytes
    /// one after the other from `src` (which holds exactly those lines, the last
    /// one possibly cut at the end of the region).
    fn write_persist_lines(&self, base: usize, lines: &[(usize, usize)], src: &[u8]) {
        let mut pos = 0;
        for &(a, b) in lines {
            let n = ((b - a) * LINE).min(src.len() - pos);
            self.write_persist(base + a * LINE, &src[pos..pos + n]);
            pos += n;
        }
    }
    /// Copies each whole line `l` of `lines` from offset `src + l * 64` of the
    /// region to `dst + l * 64` (both line aligned), persistent after the next
    /// [`fence`](PmBackend::fence). The source and destination lines must not
    /// overlap; lines reaching past the region are skipped.
    fn copy_lines(&self, src: usize, dst: usize, lines: &[usize]) {
        copy_lines_one_by_one(self, src, dst, lines);
    }
    /// Copies `src` to `[dst_off, dst_off + src.len())` of the region and starts
    /// making it persistent (complete after the next [`fence`](PmBackend::fence)),
    /// like a copy followed by [`flush`](PmBackend::flush). Back-ends may use
    /// non-temporal stores. `src` must not overlap the destination; an
    /// out-of-range destination is ignored.
    fn write_persist(&self, dst_off: usize, src: &[u8]) {
        let Some(end) = dst_off.checked_add(src.len()).filter(|e| *e <= self.len()) else {
            return;
        };
        // SAFETY: [dst_off, end) is inside the region; the caller guarantees src
        // does not overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.as_ptr().add(dst_off), src.len());
        };
        self.flush(dst_off, end - dst_off);
    }
    /// A name for error messages: the file path, or `<memory>` / `<simulated PM>`.
    fn name(&self) -> &Path;
}

/// [`PmBackend::copy_lines`] as one [`PmBackend::write_persist`] per line.
pub(crate) fn copy_lines_one_by_one<B: PmBackend + ?Sized>(
    be: &B,
    src: usize,
    dst: usize,
    lines: &[usize],
) {
    for &l in lines {
        let (Some(s), Some(d)) = (
            l.checked_mul(LINE).and_then(|o| o.checked_add(src)),
            l.checked_mul(LINE).and_then(|o| o.checked_add(dst)),
        ) else {
            continue;
        };
        if s.saturating_add(LINE) <= be.len() {
            // SAFETY: the line lies inside the region, which stays valid for the
            // back-end's life; the caller guarantees it does not overlap the
            // destination line, the only bytes written meanwhile.
            let line = unsafe { std::slice::from_raw_parts(be.as_ptr().add(s), LINE) };
            be.write_persist(d, line);
        }
    }
}

/// When a transaction writes back the lines of main it stores.
///
/// Writing a line back as soon as the transaction moves on from it overlaps the
/// write-back with the transaction's own work, instead of flushing every line
/// at commit and waiting for all of them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFlush {
    /// All at commit, deduplicated first (msync, which syncs whole pages).
    AtCommit,
    /// Never: the caches are persistent (eadr) or nothing is (none). Lines
    /// are logged as for `Inline`, without a flush.
    Never,
    /// During the transaction (when a line leaves the window of recently
    /// written lines), by the pool itself with this strategy's cache-line
    /// instruction on the back-end's memory: the back-end promises that its
    /// [`flush`](PmBackend::flush) is exactly that instruction. The pool
    /// accepts it only for a cache-line strategy this CPU supports (else it
    /// uses `Call`).
    Inline(FlushStrategy),
    /// During the transaction, as for `Inline`, through [`PmBackend::flush`]
    /// (e.g. the simulated PM, which must see every flush).
    Call,
}

/// [`StoreFlush`] for a back-end whose flush is the strategy's instruction on
/// plain mapped memory.
pub(crate) fn inline_store_flush(strategy: FlushStrategy) -> StoreFlush {
    match strategy {
        FlushStrategy::Clwb | FlushStrategy::ClflushOpt | FlushStrategy::Clflush => {
            StoreFlush::Inline(strategy)
        }
        FlushStrategy::Eadr | FlushStrategy::None => StoreFlush::Never,
        FlushStrategy::Msync => StoreFlush::AtCommit,
    }
}

/// A zeroed, page-aligned heap allocation (the memory of the non-file back-ends).
pub(crate) struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out the raw pointer; synchronisation of the
// bytes is the user's (the pool's lock) responsibility, as for a mapping.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    const ALIGN: usize = 4096;

    pub(crate) fn zeroed(len: usize) -> Self {
        if len == 0 {
            return AlignedBuf {
                ptr: Self::ALIGN as *mut u8,
                len: 0,
            };
        }
        let layout = Layout::from_size_align(len, Self::ALIGN).expect("buffer size overflow");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        AlignedBuf { ptr, len }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is our live allocation (or a dangling aligned
        // pointer with len 0).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len > 0 {
            let layout = Layout::from_size_align(self.len, Self::ALIGN).expect("layout");
            // SAFETY: allocated in `zeroed` with this exact layout.
            unsafe { std::alloc::dealloc(self.ptr, layout) };
        }
    }
}

/// Plain volatile memory as a pool back-end: for tests and benchmarks. Flushes
/// use the given strategy's instructions (so their cost is real) but nothing
/// survives the process.
pub struct MemBackend {
    buf: AlignedBuf,
    strategy: FlushStrategy,
}

impl MemBackend {
    /// `len` zeroed bytes, flushed with `strategy` (`msync` behaves as `none`).
    /// Panics if the CPU lacks the strategy's instruction.
    pub fn new(len: usize, strategy: FlushStrategy) -> Self {
        assert!(
            strategy.supported(),
            "flush strategy {strategy} unsupported on this CPU"
        );
        MemBackend {
            buf: AlignedBuf::zeroed(len),
            strategy,
        }
    }

    /// A back-end holding a copy of `bytes` (e.g. a pool image), no flushing.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = AlignedBuf::zeroed(bytes.len());
        buf.as_mut_slice().copy_from_slice(bytes);
        MemBackend {
            buf,
            strategy: FlushStrategy::None,
        }
    }

    /// The whole region.
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }
}

impl PmBackend for MemBackend {
    fn as_ptr(&self) -> *mut u8 {
        self.buf.ptr()
    }
    fn len(&self) -> usize {
        self.buf.len()
    }
    fn flush(&self, off: usize, len: usize) {
        let end = off.saturating_add(len).min(self.buf.len());
        if off < end {
            // SAFETY: [off, end) is inside our allocation; the strategy was checked
            // at construction.
            unsafe { flush::flush_lines(self.strategy, self.buf.ptr().add(off), end - off) }
        }
    }
    fn fence(&self) {
        flush::fence(self.strategy);
    }
    fn strategy(&self) -> FlushStrategy {
        self.strategy
    }
    fn store_flush(&self) -> StoreFlush {
        inline_store_flush(self.strategy)
    }
    fn name(&self) -> &Path {
        Path::new("<memory>")
    }
    fn flush_lines(&self, base: usize, lines: &[(usize, usize)]) {
        // SAFETY: every range is clamped to the allocation; strategy supported.
        unsafe {
            flush::flush_line_ranges(self.strategy, self.buf.ptr(), self.buf.len(), base, lines);
        }
    }
    fn write_persist_lines(&self, base: usize, lines: &[(usize, usize)], src: &[u8]) {
        // SAFETY: ranges are clamped to the allocation; src is a separate buffer
        // or a disjoint part of the region (trait contract); strategy supported.
        unsafe {
            flush::stream_line_ranges(
                self.strategy,
                self.buf.ptr(),
                self.buf.len(),
                base,
                lines,
                src,
            );
        }
    }
    fn copy_lines(&self, src: usize, dst: usize, lines: &[usize]) {
        // SAFETY: the allocation is live; lines outside it are skipped; source
        // and destination lines do not overlap (trait contract); strategy
        // supported.
        unsafe {
            flush::copy_line_list(
                self.strategy,
                self.buf.ptr(),
                self.buf.len(),
                src,
                dst,
                lines,
            );
        }
    }
    fn write_persist(&self, dst_off: usize, src: &[u8]) {
        if dst_off
            .checked_add(src.len())
            .is_some_and(|e| e <= self.buf.len())
        {
            // SAFETY: the destination is inside our allocation; src does not
            // overlap it (trait contract); the strategy is supported.
            unsafe { flush::copy_persist(self.strategy, self.buf.ptr().add(dst_off), src) }
        }
    }
}
