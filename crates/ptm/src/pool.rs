//! The pool: Romulus transactions over a back-end.
//!
//! A write transaction logs (in volatile memory) the cache lines of main it
//! writes. Commit uses four persistence fences whatever the transaction's size:
//!
//! 1. state = MUTATING, flush (with a cache-line strategy, at the start of a
//!    transaction that follows a writing one, so its write-back overlaps the
//!    first reads; else at the first write), **fence** (at the first write);
//!    then main is written;
//! 2. flush the written lines of main, **fence**;
//! 3. state = COPYING, flush, **fence**;
//! 4. copy the written lines main → back, flushed (non-temporal stores),
//!    **fence**;
//! 5. state = IDLE, not flushed (see `store_idle`): it reaches PM with the next
//!    transaction's first fence or the pool's drop.
//!
//! With a cache-line strategy (clwb, clflushopt, clflush), step 2's flushes are
//! issued during the transaction: the lines typed writes ([`Tx::write`]) go to
//! are kept in a small window of recently written lines, and a line is logged
//! and flushed when it drops out of that window (or at commit), so the
//! write-backs overlap the transaction's work and the fence of step 2 finds
//! little outstanding, while a transaction going back and forth among up to
//! four lines does not flush them again and again. A line retired again (the
//! transaction goes round more lines) is spotted by a small table of retired
//! lines and flushed once more at commit instead of at once. Lines written through mutable
//! slices are logged at once and flushed at commit (the pool cannot see when
//! those stores happen). With eadr and none the same window logs the lines,
//! with no flush; with msync every write is logged at once and flushed at
//! commit.
//!
//! The log is a plain list of lines (a line may appear twice) that commit
//! copies to back as listed, unless the list grows past `RAW_LINES` (settable
//! for tests: `Pool::set_log_limits`) or a slice of 17 lines or more is
//! logged: then it is deduplicated into merged ranges, small ones staged at
//! commit while still cached. With msync it is always deduplicated (each
//! flush is a system call).
//!
//! Recovery on open: MUTATING → copy back to main; COPYING → copy main to back.

use crate::backend::{PmBackend, StoreFlush};
use crate::error::{PtmError, Result};
#[cfg(feature = "file")]
use crate::file::{Fault, FileBackend, LockedFile};
use crate::flush::{FlushStrategy, LINE};
use crate::heap::{self, HeapStats};
use crate::layout::{self, HEADER_LEN, HeaderInfo, MAGIC, PoolState, STATE_OFF};
use bytemuck::Pod;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::RwLock;

/// Requested region sizes of a new pool (each rounded up to 4 KiB; main includes
/// the allocator metadata and root table, about 1 KiB, plus 64 bytes per block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSize {
    /// Bytes of main (the twinned, transactional region).
    pub main: u64,
    /// Bytes of the raw single-copy region (may be 0).
    pub raw: u64,
}

impl PoolSize {
    /// A pool with `main` bytes of main and no raw region.
    pub fn main(main: u64) -> Self {
        PoolSize { main, raw: 0 }
    }
}

/// How to create or open a pool file.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// The flush strategy; `None`: `PLINIUS_FLUSH`, else chosen from the CPU and
    /// the file system.
    pub flush: Option<FlushStrategy>,
    /// `create` may replace an existing file (never the default).
    pub overwrite: bool,
    /// Pre-fault every page at mapping time (default true), so first-touch page
    /// faults do not pollute later timings.
    pub prefault: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            flush: None,
            overwrite: false,
            prefault: true,
        }
    }
}

/// Lines per write below which lines are logged (and deduplicated) one by one;
/// larger writes are logged as one range.
const SMALL_LINES: usize = 16;
/// Log entries before the log overflows and commit falls back to copying the
/// whole span of main written by the transaction.
const MAX_ENTRIES: usize = 1 << 20;
/// Chunk size for copying large ranges main → back.
const COPY_CHUNK: usize = 256 * 1024;
/// Capacity of the raw (not yet deduplicated) list of written lines.
const RAW_LINES: usize = 1 << 14;
/// Transactions logging at most this many bytes stage their lines at commit.
const STAGE_MAX: usize = 1 << 20;
/// Lines retired again that commit flushes one by one; past this many it
/// flushes every logged line.
const REFLUSH_MAX: usize = 64;
/// Slots of a transaction's table of retired lines (a power of two).
const RETIRED_SLOTS: usize = 16;
/// Mark, in a slot of that table, of a line already listed for commit's
/// flush (line numbers never reach this bit).
const AGAIN: usize = 1 << (usize::BITS - 1);

/// The volatile redo log: ranges of lines of main written by the transaction.
struct Log {
    /// `[first line, end line)` ranges.
    entries: Vec<(usize, usize)>,
    /// One bit per line of main: logged by a small write in this transaction.
    bits: Vec<u64>,
    began: bool,
    /// Whether the previous transaction wrote (then the next one announces
    /// MUTATING at its start; see `Tx::announce`). Kept across transactions.
    last_wrote: bool,
    overflow: bool,
    lo: usize,
    hi: usize,
    /// Lines in `entries` (an upper bound: ranges may overlap).
    lines: usize,
    /// Lines written, in order, not yet deduplicated (a line may appear more
    /// than once): lines of small slice writes, and (with a store-time flush
    /// or none needed) the lines typed writes retired. While it stays under
    /// `raw_max` it is the commit's list of lines to copy; past that it is
    /// drained into `entries`.
    raw: Vec<usize>,
    /// Length of `raw` at which it is drained.
    raw_max: usize,
    max_entries: usize,
    stage_max: usize,
    /// Copy of the logged lines taken at commit while they are still cached,
    /// written to back with non-temporal stores after the COPYING fence.
    stage: Vec<u8>,
    /// With a store-time flush: line ranges written through mutable slices
    /// (the pool cannot see when those stores happen), flushed at commit.
    unflushed: Vec<(usize, usize)>,
    /// Lines retired again in this transaction (written again after they were
    /// logged and, with a store-time flush, flushed), flushed once more at
    /// commit.
    reflush: Vec<usize>,
    /// More than `REFLUSH_MAX` of them: commit flushes every logged line.
    reflush_all: bool,
}

impl Log {
    fn new(main_len: usize) -> Self {
        Log {
            entries: Vec::with_capacity(1024),
            bits: vec![0; main_len.div_ceil(LINE).div_ceil(64)],
            began: false,
            last_wrote: true,
            overflow: false,
            lo: usize::MAX,
            hi: 0,
            lines: 0,
            raw: Vec::with_capacity(RAW_LINES),
            raw_max: RAW_LINES,
            max_entries: MAX_ENTRIES,
            stage_max: STAGE_MAX,
            stage: Vec::new(),
            unflushed: Vec::new(),
            reflush: Vec::new(),
            reflush_all: false,
        }
    }

    /// Records a line retired again (flushed once more at commit).
    #[cold]
    fn again(&mut self, line: usize) {
        if self.reflush.len() < REFLUSH_MAX {
            self.reflush.push(line);
        } else {
            self.reflush_all = true;
        }
    }

    /// Records lines `[a, b)` written through a mutable slice (store-time
    /// flush only): they are flushed at commit.
    fn unflushed(&mut self, a: usize, b: usize) {
        if let Some(last) = self.unflushed.last_mut() {
            if last.0 <= a && b <= last.1 {
                return;
            }
            if last.1 == a {
                last.1 = b;
                return;
            }
        }
        if self.unflushed.len() >= self.max_entries {
            // Too many to list: cover them with one range.
            let lo = self.unflushed.iter().map(|r| r.0).min().unwrap_or(a).min(a);
            let hi = self.unflushed.iter().map(|r| r.1).max().unwrap_or(b).max(b);
            self.unflushed.clear();
            self.unflushed.push((lo, hi));
            return;
        }
        self.unflushed.push((a, b));
    }

    /// Logs one written line (appended to `raw`; deduplicated by the bitmap
    /// if `raw` fills and is drained).
    #[inline(always)]
    fn line(&mut self, line: usize) {
        if self.raw.len() >= self.raw_max {
            self.drain_raw();
        }
        self.raw.push(line);
    }

    /// Moves the raw line list into the deduplicated, merged entries. Done at
    /// commit (and when the raw list fills): the write path only appends, so
    /// that little work sits between a transaction's memory accesses and more
    /// of their cache misses overlap.
    #[cold]
    #[inline(never)]
    fn drain_raw(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        for &l in &raw {
            self.dedup_line(l);
        }
        self.raw = raw;
        self.raw.clear();
    }

    #[inline(always)]
    fn dedup_line(&mut self, line: usize) {
        let (w, bit) = (line / 64, 1u64 << (line % 64));
        let word = &mut self.bits[w];
        if *word & bit != 0 {
            return;
        }
        *word |= bit;
        self.push(line, line + 1);
    }

    /// Logs the lines `[a, b)`.
    #[inline(always)]
    fn push(&mut self, a: usize, b: usize) {
        if self.overflow {
            self.push_overflow(a, b);
            return;
        }
        if let Some(last) = self.entries.last_mut() {
            if last.1 == a {
                last.1 = b;
                self.lines += b - a;
                return;
            }
        }
        if self.entries.len() >= self.max_entries {
            self.push_overflow(a, b);
            return;
        }
        self.lines += b - a;
        self.entries.push((a, b));
    }

    #[cold]
    fn push_overflow(&mut self, a: usize, b: usize) {
        if !self.overflow {
            self.overflow = true;
            for &(x, y) in &self.entries {
                self.lo = self.lo.min(x);
                self.hi = self.hi.max(y);
            }
        }
        self.lo = self.lo.min(a);
        self.hi = self.hi.max(b);
    }

    fn reset(&mut self) {
        if self.overflow {
            let (a, b) = (self.lo, self.hi);
            if a < b {
                self.bits[a / 64..=(b - 1) / 64].fill(0);
            }
        } else {
            for &(a, b) in &self.entries {
                let (x, y) = (a / 64, (b - 1) / 64);
                if x == y {
                    self.bits[x] = 0;
                } else {
                    self.bits[x..=y].fill(0);
                }
            }
        }
        self.entries.clear();
        self.raw.clear();
        self.unflushed.clear();
        self.reflush.clear();
        self.reflush_all = false;
        self.lines = 0;
        self.began = false;
        self.overflow = false;
        self.lo = usize::MAX;
        self.hi = 0;
    }
}

/// Defines [`Pool`], whose back-end defaults to the mapped file when the
/// `file` feature is on (the struct is the same either way).
macro_rules! pool_struct {
    ($($default:ty)?) => {
        /// A persistent pool of the Romulus kind over a back-end `B`.
        pub struct Pool<B: PmBackend $(= $default)?> {
            backend: B,
            info: HeaderInfo,
            log: RwLock<Log>,
            /// The back-end's [`StoreFlush`], checked (see [`checked_store_flush`]).
            store_flush: StoreFlush,
        }
    };
}
#[cfg(feature = "file")]
pool_struct!(FileBackend);
#[cfg(not(feature = "file"))]
pool_struct!();

/// The back-end's [`StoreFlush`], with `Inline` kept only for a cache-line
/// strategy this CPU supports (the transaction then issues that instruction
/// itself); any other `Inline` becomes `Call`, which goes through the
/// back-end's own `flush`.
fn checked_store_flush(backend: &dyn PmBackend) -> StoreFlush {
    match backend.store_flush() {
        StoreFlush::Inline(s) if s.is_cache_line() && s.supported() => StoreFlush::Inline(s),
        StoreFlush::Inline(_) => StoreFlush::Call,
        other => other,
    }
}

fn round_up(x: u64, g: u64) -> Option<u64> {
    x.checked_add(g - 1).map(|v| v / g * g)
}

// Pools on files (feature `file`, host only): file I/O by design.
#[cfg(feature = "file")]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
impl Pool<FileBackend> {
    /// Creates a pool file at `path` of the given sizes and opens it. Refuses an
    /// existing file unless `opts.overwrite`. The file is locked against other
    /// openers until the pool is dropped.
    pub fn create(path: impl AsRef<Path>, size: PoolSize, opts: &PoolOptions) -> Result<Self> {
        let path = path.as_ref();
        let (main, raw) = checked_sizes(path, size)?;
        let lf = LockedFile::create(path, opts.overwrite)?;
        let total = HEADER_LEN as u64 + 2 * main + raw;
        let made = (|| {
            // On an ordinary disk (msync) reserve the blocks and only map the
            // pages; elsewhere fault every page in for writing, which also
            // reserves them (a full tmpfs is an error now, not a SIGBUS later).
            let disk = Self::would_msync(path, opts)?;
            lf.allocate(total, disk || !opts.prefault)?;
            let fault = match (opts.prefault, disk) {
                (false, _) => None,
                (true, true) => Some(Fault::Read),
                (true, false) => Some(Fault::Write),
            };
            let backend = lf.map(total as usize, opts.flush, fault)?;
            Pool::format_zeroed(backend, main, raw, true)
        })();
        if made.is_err() {
            // The file is ours (just created or explicitly overwritten) and unusable.
            let _ = std::fs::remove_file(path);
        }
        made
    }

    /// Opens an existing pool file (never creates one), locks it, checks its
    /// header and recovers an interrupted transaction.
    pub fn open(path: impl AsRef<Path>, opts: &PoolOptions) -> Result<Self> {
        let path = path.as_ref();
        let lf = LockedFile::open(path)?;
        let len = lf.len()?;
        let mut prefix = vec![0u8; HEADER_LEN];
        let n = lf.read_prefix(&mut prefix)?;
        let info = layout::parse(path, &prefix[..n], len)?;
        let fault = opts.prefault.then_some(Fault::Read);
        let backend = lf.map(info.total_len() as usize, opts.flush, fault)?;
        Pool::from_backend(backend)
    }

    /// Whether a pool at `path` would be flushed with msync (without DAX).
    fn would_msync(path: &Path, opts: &PoolOptions) -> Result<bool> {
        let s = match opts.flush {
            Some(s) => s,
            None => match FlushStrategy::from_env()? {
                Some(s) => s,
                None => crate::flush::auto_strategy(path, false),
            },
        };
        Ok(s == FlushStrategy::Msync)
    }
}

fn checked_sizes(path: &Path, size: PoolSize) -> Result<(u64, u64)> {
    let bad = |what: String| PtmError::BadSize {
        path: path.to_path_buf(),
        what,
    };
    let min_main = (heap::HEAP_START + 2 * heap::BLOCK_HDR) as u64;
    let main = round_up(size.main.max(min_main), layout::GRANULE)
        .filter(|m| *m <= layout::MAX_REGION)
        .ok_or_else(|| bad(format!("main of {} bytes", size.main)))?;
    let raw = round_up(size.raw, layout::GRANULE)
        .filter(|r| *r <= layout::MAX_REGION)
        .ok_or_else(|| bad(format!("raw of {} bytes", size.raw)))?;
    Ok((main, raw))
}

/// Reads the header of the pool file at `path` without locking, mapping or
/// recovering it (for `plinius inspect`): sizes, state word, format version.
#[cfg(feature = "file")]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub fn inspect_file(path: impl AsRef<Path>) -> Result<HeaderInfo> {
    let path = path.as_ref();
    let io = |op, source| PtmError::Io {
        path: path.to_path_buf(),
        op,
        source,
    };
    let f = std::fs::File::open(path).map_err(|e| io("open", e))?;
    let len = f.metadata().map_err(|e| io("stat", e))?.len();
    let lf = LockedFileRead(f);
    let mut prefix = vec![0u8; HEADER_LEN];
    let n = lf.read_prefix(&mut prefix).map_err(|e| io("read", e))?;
    layout::parse(path, &prefix[..n], len)
}

#[cfg(feature = "file")]
#[allow(clippy::disallowed_types)]
struct LockedFileRead(std::fs::File);
#[cfg(feature = "file")]
#[allow(clippy::disallowed_types)]
impl LockedFileRead {
    fn read_prefix(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

impl<B: PmBackend> Pool<B> {
    /// Formats a new pool on `backend` (whose length must be at least
    /// header + 2 × main + raw after rounding) and opens it. Everything in the
    /// region is overwritten.
    pub fn format(backend: B, size: PoolSize) -> Result<Self> {
        let (main, raw) = checked_sizes(backend.name(), size)?;
        Self::format_zeroed(backend, main, raw, false)
    }

    fn format_zeroed(backend: B, main: u64, raw: u64, zeroed: bool) -> Result<Self> {
        let total = HEADER_LEN as u64 + 2 * main + raw;
        if (backend.len() as u64) < total {
            return Err(PtmError::BadSize {
                path: backend.name().to_path_buf(),
                what: format!(
                    "the region holds {} bytes, the pool needs {total}",
                    backend.len()
                ),
            });
        }
        let total = total as usize;
        let base = backend.as_ptr();
        // SAFETY: the region is [base, base + len) and total <= len; we own the
        // back-end, nothing else references its bytes.
        let all = unsafe { std::slice::from_raw_parts_mut(base, total) };
        if !zeroed {
            all.fill(0);
        }
        let (m, b) = (HEADER_LEN, HEADER_LEN + main as usize);
        heap::init(&mut all[m..b]);
        all.copy_within(m..m + heap::HEAP_START + heap::BLOCK_HDR, b);
        layout::encode_static(&mut all[..HEADER_LEN], main, raw);
        all[STATE_OFF..STATE_OFF + 8].copy_from_slice(&PoolState::Idle.word().to_le_bytes());
        if zeroed {
            backend.flush(m, heap::HEAP_START + heap::BLOCK_HDR);
            backend.flush(b, heap::HEAP_START + heap::BLOCK_HDR);
        } else {
            backend.flush(0, total);
        }
        backend.flush(0, HEADER_LEN);
        backend.fence();
        // The magic last: a crash while creating leaves "not a pool".
        all[..8].copy_from_slice(&MAGIC);
        backend.flush(0, 8);
        backend.fence();
        Self::from_backend_len(backend, total as u64)
    }

    /// Opens the pool held by `backend` (e.g. a [`crate::SimPm`] crash image):
    /// checks the header and the heap, and recovers an interrupted transaction.
    /// The region may be longer than the pool (the tail is left alone); a pool
    /// file, by contrast, must have exactly the length its header describes.
    pub fn from_backend(backend: B) -> Result<Self> {
        let len = backend.len() as u64;
        let n = backend.len().min(HEADER_LEN);
        // SAFETY: the first n bytes of the region are readable.
        let prefix = unsafe { std::slice::from_raw_parts(backend.as_ptr(), n) };
        match layout::parse(backend.name(), prefix, len) {
            Err(PtmError::SizeMismatch { expected, .. }) => {
                Self::from_backend_len(backend, expected)
            }
            _ => Self::from_backend_len(backend, len),
        }
    }

    fn from_backend_len(backend: B, len: u64) -> Result<Self> {
        let n = (backend.len()).min(HEADER_LEN);
        // SAFETY: the first n bytes of the region are readable.
        let prefix = unsafe { std::slice::from_raw_parts(backend.as_ptr(), n) };
        let info = layout::parse(backend.name(), prefix, len)?;
        let pool = Pool {
            log: RwLock::new(Log::new(info.main_len as usize)),
            store_flush: checked_store_flush(&backend),
            backend,
            info,
        };
        pool.recover();
        heap::walk(pool.main(), pool.backend.name())?;
        Ok(pool)
    }

    fn recover(&self) {
        let main = self.info.main_len as usize;
        let (m, b) = (self.info.main_off(), self.info.back_off());
        let base = self.backend.as_ptr();
        match self.state() {
            PoolState::Idle => return,
            // SAFETY: main and back are disjoint in-bounds regions of the
            // mapping and no reference to them is live during recovery.
            PoolState::Mutating => unsafe {
                std::ptr::copy_nonoverlapping(base.add(b), base.add(m), main);
                self.backend.flush(m, main);
            },
            // SAFETY: as above, main and back are disjoint in-bounds regions of
            // the mapping and no reference to them is live during recovery.
            PoolState::Copying => unsafe {
                std::ptr::copy_nonoverlapping(base.add(m), base.add(b), main);
                self.backend.flush(b, main);
            },
        }
        self.backend.fence();
        self.set_state(PoolState::Idle);
        self.backend.fence();
    }

    fn state(&self) -> PoolState {
        // SAFETY: the state word is an aligned u64 inside the header.
        let w =
            unsafe { std::ptr::read_volatile(self.backend.as_ptr().add(STATE_OFF) as *const u64) };
        PoolState::from_word(u64::from_le(w)).unwrap_or(PoolState::Mutating)
    }

    /// Stores and flushes the state word (no fence).
    fn set_state(&self, s: PoolState) {
        // SAFETY: the state word is an aligned u64 inside the header, written
        // only under the pool's write lock (or before the pool is shared).
        unsafe {
            std::ptr::write_volatile(
                self.backend.as_ptr().add(STATE_OFF) as *mut u64,
                s.word().to_le(),
            );
        };
        self.backend.flush(STATE_OFF, 8);
    }

    fn main(&self) -> &[u8] {
        // SAFETY: main is in bounds; callers hold no writer (read lock or &self
        // before sharing).
        unsafe {
            std::slice::from_raw_parts(
                self.backend.as_ptr().add(HEADER_LEN),
                self.info.main_len as usize,
            )
        }
    }

    /// Runs a write transaction. If `f` returns `Ok`, its writes are durable when
    /// `write` returns; if it returns `Err` (or panics), main is restored and
    /// nothing is persisted. Writers are serialised; readers wait for them.
    pub fn write<R, E, F>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&mut Tx<'_>) -> std::result::Result<R, E>,
        E: From<PtmError>,
    {
        let mut log = self
            .log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tx = Tx {
            base: self.backend.as_ptr(),
            main_len: self.info.main_len as usize,
            backend: &self.backend,
            log: &mut log,
            done: false,
            store_flush: self.store_flush,
            hot: [NO_LINE; HOT_LINES],
            retired: [NO_LINE; RETIRED_SLOTS],
            announced: false,
            _not_send: PhantomData,
        };
        if matches!(tx.store_flush, StoreFlush::Inline(_) | StoreFlush::Call) && tx.log.last_wrote {
            tx.announce();
        }
        match f(&mut tx) {
            Ok(r) => {
                tx.commit();
                Ok(r)
            }
            Err(e) => {
                tx.abort();
                Err(e)
            }
        }
    }

    /// Runs `f` with a read-only view of main (concurrent readers are fine).
    pub fn read<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> R {
        let _g = self
            .log
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let view = View {
            main: self.main(),
            name: self.backend.name(),
        };
        f(&view)
    }

    /// The raw region (read-only).
    pub fn raw(&self) -> &[u8] {
        // SAFETY: the raw region is in bounds and written only through
        // `raw_mut`, which needs `&mut self`.
        unsafe {
            std::slice::from_raw_parts(
                self.backend.as_ptr().add(self.info.raw_off()),
                self.info.raw_len as usize,
            )
        }
    }

    /// The exclusive writer of the raw region.
    pub fn raw_mut(&mut self) -> RawWriter<'_> {
        RawWriter {
            // SAFETY: raw_off is within the region.
            ptr: unsafe { self.backend.as_ptr().add(self.info.raw_off()) },
            off: self.info.raw_off(),
            len: self.info.raw_len as usize,
            backend: &self.backend,
            _excl: PhantomData,
        }
    }

    /// Sets the redo log's capacity in entries (default 2^20; beyond it a
    /// transaction falls back to copying the whole span of main it wrote), the
    /// largest log, in bytes, whose lines are staged at commit (default
    /// 1 MiB), and the length of the plain line list before it is
    /// deduplicated into entries (default 16,384). For tests that exercise
    /// those paths.
    pub fn set_log_limits(&mut self, max_entries: usize, stage_max: usize, raw_lines: usize) {
        let log = self.log.get_mut().unwrap_or_else(|p| p.into_inner());
        log.max_entries = max_entries.max(1);
        log.stage_max = stage_max;
        log.raw_max = raw_lines.max(1);
    }

    /// The header facts (sizes, the current state word, format version).
    pub fn info(&self) -> HeaderInfo {
        HeaderInfo {
            state: self.state(),
            ..self.info
        }
    }

    /// Length of main in bytes.
    pub fn main_len(&self) -> u64 {
        self.info.main_len
    }

    /// Length of the raw region in bytes.
    pub fn raw_len(&self) -> u64 {
        self.info.raw_len
    }

    /// The flush strategy of the back-end.
    pub fn flush_strategy(&self) -> FlushStrategy {
        self.backend.strategy()
    }

    /// The back-end (e.g. to arm a crash in a [`crate::SimPm`]).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Closes the pool cleanly and returns its back-end.
    pub fn into_backend(self) -> B {
        self.backend.flush(STATE_OFF, 8);
        self.backend.fence();
        let me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again; each field is moved out
        // exactly once (the log is dropped here, the back-end returned).
        unsafe {
            drop(std::ptr::read(&raw const me.log));
            std::ptr::read(&raw const me.backend)
        }
    }
}

impl<B: PmBackend> std::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.backend.name())
            .field("info", &self.info())
            .field("flush", &self.backend.strategy())
            .finish()
    }
}

impl<B: PmBackend> Drop for Pool<B> {
    fn drop(&mut self) {
        // Persist the last transaction's IDLE state word.
        self.backend.flush(STATE_OFF, 8);
        self.backend.fence();
    }
}

/// An empty slot of the hot-line window.
const NO_LINE: usize = usize::MAX;
/// Lines a transaction's typed writes keep unflushed (most recently written
/// first) before the store-time flush writes back the least recent one. Four
/// cover the usual back-and-forth (an array and its length field; a list
/// node, the head and a count) at no measurable cost on random writes (SPS).
const HOT_LINES: usize = 4;

/// A write transaction over main. Offsets are from the start of main.
pub struct Tx<'a> {
    base: *mut u8,
    main_len: usize,
    backend: &'a dyn PmBackend,
    log: &'a mut Log,
    done: bool,
    /// When stored lines are written back.
    store_flush: StoreFlush,
    /// With a store-time flush: the lines of main typed writes wrote most
    /// recently, not yet flushed (most recent first, [`NO_LINE`] for empty
    /// slots). A line is flushed when it first drops out of this window (once
    /// more at commit if it comes back), so a transaction that goes back and
    /// forth among a few lines (a length field and an array) does not stall
    /// on a line still being written back. (With `StoreFlush::Never` the
    /// window only logs: nothing is flushed.)
    hot: [usize; HOT_LINES],
    /// Lines this transaction retired, at a slot hashed from the line (a
    /// small direct-mapped table: a line whose slot another took is just
    /// retired again). A line found here was logged and flushed already and
    /// has been written again: the transaction goes round more lines than
    /// the window holds, and flushing the line now would make its next write
    /// wait for the write-back, so it is flushed once more at commit instead.
    retired: [usize; RETIRED_SLOTS],
    /// MUTATING is stored and flushed, not yet fenced (see `announce`).
    announced: bool,
    _not_send: PhantomData<*mut u8>,
}

impl<'a> Tx<'a> {
    #[cold]
    #[inline(never)]
    fn err_bounds(&self, off: u64, len: u64) -> PtmError {
        out_of_bounds(self.backend.name(), off, len, self.main_len)
    }

    #[inline(always)]
    fn check(&self, off: u64, len: usize) -> Result<usize> {
        in_bounds(off, len, self.main_len, || self.backend.name())
    }

    pub(crate) fn name(&self) -> &Path {
        self.backend.name()
    }

    /// Length of main.
    pub fn main_len(&self) -> usize {
        self.main_len
    }

    /// Main as it is now, with this transaction's writes.
    pub fn main(&self) -> &[u8] {
        // SAFETY: main is in bounds; the write lock excludes readers and other
        // writers; `&self` excludes a live mutable slice from this transaction.
        unsafe { std::slice::from_raw_parts(self.base.add(HEADER_LEN), self.main_len) }
    }

    /// Stores MUTATING and starts its write-back without waiting for it, so
    /// that the write-back overlaps whatever the transaction reads before its
    /// first write (which fences it, in `begin`). Harmless if nothing is
    /// written: main equals back while the pool is idle, so recovering from
    /// MUTATING changes nothing, and the state returns to IDLE at the end.
    fn announce(&mut self) {
        // SAFETY: the state word is an aligned u64 in the header; we hold the lock.
        unsafe {
            std::ptr::write_volatile(
                self.base.add(STATE_OFF) as *mut u64,
                PoolState::Mutating.word().to_le(),
            );
        };
        self.backend.flush(STATE_OFF, 8);
        self.announced = true;
    }

    /// Makes MUTATING persistent before the first write to main.
    #[cold]
    #[inline(never)]
    fn begin(&mut self) {
        self.log.began = true;
        if !self.announced {
            self.announce();
        }
        // Also completes the previous transaction's IDLE flush (merged fence).
        self.backend.fence();
    }

    #[inline(always)]
    fn log_range(&mut self, off: usize, len: usize) {
        if !self.log.began {
            self.begin();
        }
        let first = off / LINE;
        let last = (off + len - 1) / LINE;
        if first == last {
            self.log.line(first);
        } else {
            self.log_lines(first, last);
        }
    }

    #[inline(never)]
    fn log_lines(&mut self, first: usize, last: usize) {
        if last - first < SMALL_LINES {
            for line in first..=last {
                self.log.line(line);
            }
        } else if let Some(prev) = self.log.entries.last() {
            // Skip a range already logged whole (e.g. the same buffer twice).
            if !(prev.0 <= first && last < prev.1) {
                self.log.push(first, last + 1);
            }
        } else {
            self.log.push(first, last + 1);
        }
    }

    /// Writes back line `line` of main (store-time flush).
    #[inline(always)]
    fn flush_main_line(&self, line: usize) {
        match self.store_flush {
            // SAFETY: `line` holds bytes of main a write checked in bounds, so
            // it lies inside the back-end's mapping; the pool keeps `Inline`
            // only for a cache-line strategy this CPU supports
            // (`checked_store_flush`).
            StoreFlush::Inline(s) => unsafe {
                crate::flush::flush_line(s, self.base.add(HEADER_LEN + line * LINE));
            },
            StoreFlush::Call => self.backend.flush(HEADER_LEN + line * LINE, LINE),
            StoreFlush::AtCommit | StoreFlush::Never => {}
        }
    }

    /// Store-time flush after a typed write of `[off, off + len)` (len > 0):
    /// moves its lines to the front of the hot-line window.
    #[inline(always)]
    fn stored(&mut self, off: usize, len: usize) {
        if self.store_flush == StoreFlush::AtCommit {
            return;
        }
        let first = off / LINE;
        let last = (off + len - 1) / LINE;
        if first == last {
            // The common cases first: the same line again, or the line before.
            if self.hot[0] == first {
                return;
            }
            if self.hot[1] == first {
                self.hot.swap(0, 1);
                return;
            }
            self.touch(first);
            return;
        }
        for line in first..=last {
            self.touch(line);
        }
    }

    /// Moves `line` to the front of the hot-line window; a line that drops
    /// out of it is retired.
    #[inline]
    fn touch(&mut self, line: usize) {
        let mut carry = line;
        for slot in &mut self.hot {
            let was = std::mem::replace(slot, carry);
            if was == line {
                return;
            }
            carry = was;
        }
        if carry != NO_LINE {
            self.retire(carry);
        }
    }

    /// Retires every line of the hot-line window (at commit).
    fn retire_hot(&mut self) {
        let hot = std::mem::replace(&mut self.hot, [NO_LINE; HOT_LINES]);
        for line in hot {
            if line != NO_LINE {
                self.retire(line);
            }
        }
    }

    /// A line of main done with for now (it left the window of recent lines,
    /// or the transaction commits): logged and flushed (with
    /// `StoreFlush::Never`, only logged), unless `retired` shows it was
    /// retired before. (Logging here rather than at every write keeps the log
    /// short; copying the line aside for back now would cost more than
    /// reading it from main at commit: the copy's loads would wait for the
    /// store just made to the same line.)
    #[inline(always)]
    fn retire(&mut self, line: usize) {
        // Fibonacci hashing: lines a power of two apart (fields at the same
        // offset of pages or blocks) spread over the slots.
        let h = (line as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (64 - RETIRED_SLOTS.trailing_zeros());
        let slot = &mut self.retired[h as usize];
        if *slot & !AGAIN == line {
            // Listed for commit's flush once.
            if *slot & AGAIN == 0 {
                *slot |= AGAIN;
                self.log.again(line);
            }
            return;
        }
        *slot = line;
        self.log.line(line);
        self.flush_main_line(line);
    }

    /// A logged, mutable slice of main: whatever is written into it is part of
    /// the transaction. Large ranges are logged as one range (flushed and copied
    /// in bulk at commit).
    #[inline]
    pub fn bytes_mut(&mut self, off: u64, len: usize) -> Result<&mut [u8]> {
        let o = self.check(off, len)?;
        if len > 0 {
            self.log_range(o, len);
            if self.store_flush != StoreFlush::AtCommit {
                self.log.unflushed(o / LINE, (o + len - 1) / LINE + 1);
            }
        }
        // SAFETY: in bounds; the write lock excludes every other access to main
        // and `&mut self` excludes other slices from this transaction.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.add(HEADER_LEN + o), len) })
    }

    /// Main's bytes `[off, off + len)`.
    #[inline]
    pub fn bytes(&self, off: u64, len: usize) -> Result<&[u8]> {
        let o = self.check(off, len)?;
        Ok(&self.main()[o..o + len])
    }

    /// Reads a value (any alignment).
    #[inline(always)]
    pub fn read<T: Pod>(&self, off: u64) -> Result<T> {
        let o = self.check(off, size_of::<T>())?;
        // SAFETY: in bounds (checked); T is Pod so any bytes are a valid T and an
        // unaligned read is fine.
        Ok(unsafe { std::ptr::read_unaligned(self.base.add(HEADER_LEN + o) as *const T) })
    }

    /// Writes a value (any alignment), logged.
    #[inline(always)]
    pub fn write<T: Pod>(&mut self, off: u64, val: &T) -> Result<()> {
        let o = self.check(off, size_of::<T>())?;
        if size_of::<T>() == 0 {
            return Ok(());
        }
        if self.store_flush == StoreFlush::AtCommit {
            self.log_range(o, size_of::<T>());
        } else if !self.log.began {
            // Logged when it leaves the hot-line window (`stored`, `retire`).
            self.begin();
        }
        // SAFETY: in bounds (checked); exclusive access under the write lock;
        // T is Pod (no drop, any bytes valid).
        unsafe { std::ptr::write_unaligned(self.base.add(HEADER_LEN + o) as *mut T, *val) };
        self.stored(o, size_of::<T>());
        Ok(())
    }

    /// A typed slice of `count` values at `off` (aligned for `T`).
    pub fn slice<T: Pod>(&self, off: u64, count: usize) -> Result<&[T]> {
        let len = count
            .checked_mul(size_of::<T>())
            .ok_or_else(|| self.err_bounds(off, u64::MAX))?;
        let b = self.bytes(off, len)?;
        bytemuck::try_cast_slice(b).map_err(|_| PtmError::Misaligned {
            path: self.name().to_path_buf(),
            off,
            align: align_of::<T>(),
        })
    }

    /// A logged, mutable typed slice of `count` values at `off` (aligned for `T`).
    pub fn slice_mut<T: Pod>(&mut self, off: u64, count: usize) -> Result<&mut [T]> {
        let len = count
            .checked_mul(size_of::<T>())
            .ok_or_else(|| self.err_bounds(off, u64::MAX))?;
        if (self.base as usize + HEADER_LEN + self.check(off, len)?) % align_of::<T>() != 0 {
            return Err(PtmError::Misaligned {
                path: self.name().to_path_buf(),
                off,
                align: align_of::<T>(),
            });
        }
        let b = self.bytes_mut(off, len)?;
        Ok(bytemuck::cast_slice_mut(b))
    }

    /// Allocates `len` bytes of main (payload 64-byte aligned); returns its offset.
    /// Fails with [`PtmError::OutOfSpace`] when no free block is large enough.
    pub fn alloc(&mut self, len: u64) -> Result<u64> {
        heap::alloc(self, len)
    }

    /// Frees the block allocated at `off`.
    pub fn free(&mut self, off: u64) -> Result<()> {
        heap::free(self, off)
    }

    /// The payload length of the block allocated at `off`.
    pub fn alloc_len(&self, off: u64) -> Result<u64> {
        heap::block_len(self.main(), off, self.name())
    }

    /// Sets root slot `i` (0..[`crate::ROOT_COUNT`]) to `off`.
    pub fn set_root(&mut self, i: usize, off: u64) -> Result<()> {
        let r = heap::root_off(i)?;
        self.write(r, &off)
    }

    /// Reads root slot `i`.
    pub fn root(&self, i: usize) -> Result<u64> {
        heap::root(self.main(), i)
    }

    fn ranges(&self) -> Vec<(usize, usize)> {
        if self.log.overflow {
            vec![(self.log.lo, self.log.hi)]
        } else {
            Vec::new()
        }
    }

    /// Stores IDLE without flushing it: flushing it now would make the next
    /// transaction's MUTATING store wait for that write-back (a store to a line
    /// being written back stalls). It is not needed for correctness: until IDLE
    /// reaches PM the persisted state is COPYING (after a commit: recovery copies
    /// main, which is complete, to back) or MUTATING (after an abort: recovery
    /// copies back, which was never touched, to main; after a transaction that
    /// announced MUTATING and wrote nothing: main equals back, so the copy
    /// changes nothing). The pool's drop persists it.
    fn store_idle(&mut self) {
        // SAFETY: the state word is in the header; we hold the write lock.
        unsafe {
            std::ptr::write_volatile(
                self.base.add(STATE_OFF) as *mut u64,
                PoolState::Idle.word().to_le(),
            );
        };
    }

    /// Marks the transaction done; whether it wrote anything (then its log
    /// is drained, ready for the commit or the roll-back).
    #[inline]
    fn finish(&mut self) -> bool {
        self.done = true;
        self.log.last_wrote = self.log.began;
        if !self.log.began {
            if self.announced {
                self.store_idle();
            }
            return false;
        }
        self.log.drain_raw();
        true
    }

    fn commit(&mut self) {
        // The hot lines join the log before it is drained.
        self.retire_hot();
        self.log.last_wrote = self.log.began;
        let early = self.store_flush != StoreFlush::AtCommit;
        if early && self.log.began && self.log.entries.is_empty() && !self.log.overflow {
            // Every logged line is still in the raw list (it never filled):
            // copy those lines to back as listed, without deduplicating them
            // (a line listed twice is copied twice).
            self.done = true;
            self.commit_raw();
            return;
        }
        if !self.finish() {
            return;
        }
        let be = self.backend;
        let (m, bk) = (HEADER_LEN, HEADER_LEN + self.main_len);
        let over = self.ranges();
        let log = &mut *self.log;
        let ranges: &[(usize, usize)] = if log.overflow { &over } else { &log.entries };
        // SAFETY: main is in bounds; no mutable slice from this transaction is
        // live (the closure has returned) and the write lock excludes others.
        let main = unsafe { std::slice::from_raw_parts(self.base.add(m), self.main_len) };
        let span = |a: usize, b: usize| (a * LINE, (b * LINE).min(main.len()));
        // Small transactions whose lines are flushed now: stage the lines while
        // they are hot in the cache (the flush may evict them). Lines flushed
        // at store time are copied from main.
        let staged = !log.overflow
            && log.lines * LINE <= log.stage_max
            && (!early || !log.unflushed.is_empty());
        if staged {
            log.stage.clear();
            for &(a, b) in ranges {
                if b == a + 1 && (a + 1) * LINE <= main.len() {
                    let l: &[u8; LINE] = main[a * LINE..(a + 1) * LINE].try_into().expect("a line");
                    log.stage.extend_from_slice(l);
                } else {
                    let (x, y) = span(a, b);
                    log.stage.extend_from_slice(&main[x..y]);
                }
            }
        }
        if early && !log.reflush_all {
            if self.store_flush != StoreFlush::Never {
                for &line in &log.reflush {
                    be.flush(m + line * LINE, LINE);
                }
            }
            be.flush_lines(m, &log.unflushed);
        } else {
            be.flush_lines(m, ranges);
        }
        be.fence();
        Self::persist_copying(self.base, be);
        if staged {
            be.write_persist_lines(bk, ranges, &log.stage);
        } else {
            for &(a, b) in ranges {
                let (mut off, end) = span(a, b);
                while off < end {
                    let n = (end - off).min(COPY_CHUNK);
                    be.write_persist(bk + off, &main[off..off + n]);
                    off += n;
                }
            }
        }
        be.fence();
        self.store_idle();
        self.log.reset();
    }

    /// Persists the state word COPYING (main is complete and persistent)
    /// in the pool mapped at `base`.
    fn persist_copying(base: *mut u8, be: &dyn PmBackend) {
        // SAFETY: the state word is in the header of the pool at `base`; the
        // caller holds the write lock.
        unsafe {
            std::ptr::write_volatile(
                base.add(STATE_OFF) as *mut u64,
                PoolState::Copying.word().to_le(),
            );
        };
        be.flush(STATE_OFF, 8);
        be.fence();
    }

    /// Commit when the log is the raw line list, with a store-time flush (the
    /// ranges written through slices are flushed here) or none needed.
    fn commit_raw(&mut self) {
        let be = self.backend;
        let (m, bk) = (HEADER_LEN, HEADER_LEN + self.main_len);
        let again = if self.log.reflush_all {
            &self.log.raw
        } else {
            &self.log.reflush
        };
        for &line in again {
            self.flush_main_line(line);
        }
        be.flush_lines(m, &self.log.unflushed);
        be.fence();
        Self::persist_copying(self.base, be);
        be.copy_lines(m, bk, &self.log.raw);
        be.fence();
        self.store_idle();
        self.log.reset();
    }

    fn abort(&mut self) {
        if !self.finish() {
            return;
        }
        let be = self.backend;
        let (m, bk) = (HEADER_LEN, HEADER_LEN + self.main_len);
        let over = self.ranges();
        let ranges: &[(usize, usize)] = if self.log.overflow {
            &over
        } else {
            &self.log.entries
        };
        // With a store-time flush (or none needed) the hot lines are not
        // logged yet.
        let hot = std::mem::replace(&mut self.hot, [NO_LINE; HOT_LINES]);
        let hot = hot.iter().filter(|l| **l != NO_LINE).map(|&l| (l, l + 1));
        for (a, b) in ranges.iter().copied().chain(hot) {
            let (off, end) = (a * LINE, (b * LINE).min(self.main_len));
            // SAFETY: in bounds of main and back, which do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.add(bk + off),
                    self.base.add(m + off),
                    end - off,
                );
            };
            be.flush(m + off, end - off);
        }
        be.fence();
        self.store_idle();
        self.log.reset();
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The closure panicked: roll back.
            self.abort();
        }
    }
}

/// `off` as an index if `[off, off + len)` lies within `limit` bytes, else
/// [`PtmError::OutOfBounds`] naming the pool at `path()` (only called then).
#[inline(always)]
fn in_bounds<'p>(
    off: u64,
    len: usize,
    limit: usize,
    path: impl FnOnce() -> &'p Path,
) -> Result<usize> {
    match off.checked_add(len as u64) {
        Some(end) if end <= limit as u64 => Ok(off as usize),
        _ => Err(out_of_bounds(path(), off, len as u64, limit)),
    }
}

#[cold]
fn out_of_bounds(path: &Path, off: u64, len: u64, limit: usize) -> PtmError {
    PtmError::OutOfBounds {
        path: path.to_path_buf(),
        off,
        len,
        limit: limit as u64,
    }
}

/// A read-only view of main. Offsets are from the start of main.
pub struct View<'a> {
    main: &'a [u8],
    name: &'a Path,
}

impl<'a> View<'a> {
    fn check(&self, off: u64, len: usize) -> Result<usize> {
        in_bounds(off, len, self.main.len(), || self.name)
    }

    /// All of main.
    pub fn main(&self) -> &'a [u8] {
        self.main
    }

    /// Main's bytes `[off, off + len)`.
    pub fn bytes(&self, off: u64, len: usize) -> Result<&'a [u8]> {
        let o = self.check(off, len)?;
        Ok(&self.main[o..o + len])
    }

    /// Reads a value (any alignment).
    pub fn read<T: Pod>(&self, off: u64) -> Result<T> {
        Ok(bytemuck::pod_read_unaligned(
            self.bytes(off, size_of::<T>())?,
        ))
    }

    /// A typed slice of `count` values at `off` (aligned for `T`).
    pub fn slice<T: Pod>(&self, off: u64, count: usize) -> Result<&'a [T]> {
        let len = count.saturating_mul(size_of::<T>());
        let b = self.bytes(off, len)?;
        bytemuck::try_cast_slice(b).map_err(|_| PtmError::Misaligned {
            path: self.name.to_path_buf(),
            off,
            align: align_of::<T>(),
        })
    }

    /// Reads root slot `i`.
    pub fn root(&self, i: usize) -> Result<u64> {
        heap::root(self.main, i)
    }

    /// The payload length of the block allocated at `off`.
    pub fn alloc_len(&self, off: u64) -> Result<u64> {
        heap::block_len(self.main, off, self.name)
    }

    /// Walks the allocator's metadata and checks it is consistent.
    pub fn heap_check(&self) -> Result<HeapStats> {
        heap::walk(self.main, self.name)
    }
}

/// The exclusive writer of the raw (single-copy, non-transactional) region.
/// Offsets are from the start of the raw region. Writes become persistent only
/// after [`persist`](RawWriter::persist) and [`fence`](RawWriter::fence).
pub struct RawWriter<'a> {
    ptr: *mut u8,
    off: usize,
    len: usize,
    backend: &'a dyn PmBackend,
    _excl: PhantomData<&'a mut [u8]>,
}

impl RawWriter<'_> {
    fn check(&self, off: u64, len: usize) -> Result<usize> {
        in_bounds(off, len, self.len, || self.backend.name())
    }

    /// Length of the raw region.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the raw region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole raw region.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the raw region is in bounds; `&self` excludes a live mutable slice.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// A mutable slice `[off, off + len)` of the raw region.
    pub fn bytes_mut(&mut self, off: u64, len: usize) -> Result<&mut [u8]> {
        let o = self.check(off, len)?;
        // SAFETY: in bounds; the writer borrows the pool mutably, so nothing else
        // accesses the raw region.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(o), len) })
    }

    /// Starts writing back `[off, off + len)` (persistent after the next fence).
    pub fn persist(&self, off: u64, len: usize) -> Result<()> {
        let o = self.check(off, len)?;
        self.backend.flush(self.off + o, len);
        Ok(())
    }

    /// Waits until everything persisted before is persistent.
    pub fn fence(&self) {
        self.backend.fence();
    }

    /// Copies `src` to `[off, off + src.len())` and starts persisting it (like
    /// `bytes_mut` + copy + `persist`, but with non-temporal stores where the
    /// back-end has them: the fastest way to put a large buffer on PM).
    /// Persistent after the next [`fence`](RawWriter::fence).
    pub fn write_persist(&mut self, off: u64, src: &[u8]) -> Result<()> {
        let o = self.check(off, src.len())?;
        self.backend.write_persist(self.off + o, src);
        Ok(())
    }

    /// Stores an aligned u64 with one 8-byte store (failure-atomic once
    /// persisted): for selector words.
    pub fn store_u64(&mut self, off: u64, v: u64) -> Result<()> {
        let o = self.check(off, 8)?;
        if o % 8 != 0 {
            return Err(PtmError::Misaligned {
                path: self.backend.name().to_path_buf(),
                off,
                align: 8,
            });
        }
        // SAFETY: in bounds and 8-aligned (the region is page aligned); exclusive.
        unsafe { std::ptr::write_volatile(self.ptr.add(o) as *mut u64, v.to_le()) };
        Ok(())
    }

    /// Loads a u64 (little endian) at `off`.
    pub fn load_u64(&self, off: u64) -> Result<u64> {
        let o = self.check(off, 8)?;
        Ok(u64::from_le_bytes(
            self.bytes()[o..o + 8].try_into().expect("8 bytes"),
        ))
    }
}
