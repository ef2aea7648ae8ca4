//! Flush strategies: how a written cache line is made persistent, chosen at run
//! time from the CPU and the file system, overridable.
//!
//! This module and the back-ends are the only places with `unsafe`: the cache-line
//! flush instructions are issued with inline assembly.

use crate::error::{PtmError, Result};
use std::fmt;
#[cfg(feature = "file")]
use std::path::Path;
use std::str::FromStr;

/// The size of a cache line, the unit of persistence.
pub const LINE: usize = 64;

/// The environment variable that overrides the flush strategy of pools opened
/// without an explicit one.
pub const FLUSH_ENV: &str = "PLINIUS_FLUSH";

/// How written lines are made persistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushStrategy {
    /// `clwb` per line, `sfence` as the fence (write back, keep the line cached).
    Clwb,
    /// `clflushopt` per line, `sfence` as the fence (write back and invalidate).
    ClflushOpt,
    /// `clflush` per line (ordered by itself; `sfence` orders the non-temporal
    /// copies to back).
    Clflush,
    /// `msync(MS_SYNC)` of the pages holding the lines: a pool on an ordinary disk.
    Msync,
    /// Caches are persistent (eADR): no flush, `sfence` as the fence.
    Eadr,
    /// Nothing at all: not crash safe, a benchmark upper bound only.
    None,
}

impl FlushStrategy {
    /// All strategies, in order of preference for PM.
    pub const ALL: [FlushStrategy; 6] = [
        FlushStrategy::Clwb,
        FlushStrategy::ClflushOpt,
        FlushStrategy::Clflush,
        FlushStrategy::Msync,
        FlushStrategy::Eadr,
        FlushStrategy::None,
    ];

    /// The strategy's name as used on the command line and in `PLINIUS_FLUSH`.
    pub fn name(self) -> &'static str {
        match self {
            FlushStrategy::Clwb => "clwb",
            FlushStrategy::ClflushOpt => "clflushopt",
            FlushStrategy::Clflush => "clflush",
            FlushStrategy::Msync => "msync",
            FlushStrategy::Eadr => "eadr",
            FlushStrategy::None => "none",
        }
    }

    /// Whether this CPU can run the strategy.
    pub fn supported(self) -> bool {
        let s = cpu_flush_support();
        match self {
            FlushStrategy::Clwb => s.clwb,
            FlushStrategy::ClflushOpt => s.clflushopt,
            FlushStrategy::Clflush => s.clflush,
            FlushStrategy::Eadr => s.sfence,
            FlushStrategy::Msync | FlushStrategy::None => true,
        }
    }

    /// Errors if this CPU cannot run the strategy.
    pub fn check_supported(self) -> Result<Self> {
        if self.supported() {
            Ok(self)
        } else {
            Err(PtmError::UnsupportedFlush {
                strategy: self.name().to_string(),
                why: "this CPU lacks the instruction".to_string(),
            })
        }
    }

    /// Whether the strategy flushes individual cache lines with an instruction.
    pub fn is_cache_line(self) -> bool {
        matches!(
            self,
            FlushStrategy::Clwb | FlushStrategy::ClflushOpt | FlushStrategy::Clflush
        )
    }

    /// The strategy named by `PLINIUS_FLUSH`, if the variable is set
    /// (feature `file`: the host's override; reads the environment).
    #[cfg(feature = "file")]
    #[allow(clippy::disallowed_methods)]
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(FLUSH_ENV) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().parse()?)),
            _ => Ok(None),
        }
    }
}

impl fmt::Display for FlushStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FlushStrategy {
    type Err = PtmError;
    fn from_str(s: &str) -> Result<Self> {
        FlushStrategy::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| PtmError::UnknownFlush(s.to_string()))
    }
}

/// The cache-line flush instructions this CPU has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFlushSupport {
    /// `clflush` (CPUID.1:EDX.CLFSH).
    pub clflush: bool,
    /// `clflushopt` (CPUID.7.0:EBX bit 23).
    pub clflushopt: bool,
    /// `clwb` (CPUID.7.0:EBX bit 24).
    pub clwb: bool,
    /// `sfence` (SSE).
    pub sfence: bool,
}

impl CpuFlushSupport {
    /// The best cache-line strategy of this CPU (clwb, then clflushopt, then clflush).
    pub fn best_line_flush(&self) -> Option<FlushStrategy> {
        if self.clwb {
            Some(FlushStrategy::Clwb)
        } else if self.clflushopt {
            Some(FlushStrategy::ClflushOpt)
        } else if self.clflush {
            Some(FlushStrategy::Clflush)
        } else {
            None
        }
    }
}

/// Probes the CPU (CPUID) for the flush instructions; `clwb` and `clflushopt` are
/// not covered by `is_x86_feature_detected!`.
pub fn cpu_flush_support() -> CpuFlushSupport {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid_count;
        let leaf1 = __cpuid_count(1, 0);
        let max_leaf = __cpuid_count(0, 0).eax;
        let leaf7_ebx = if max_leaf >= 7 {
            __cpuid_count(7, 0).ebx
        } else {
            0
        };
        CpuFlushSupport {
            clflush: leaf1.edx & (1 << 19) != 0,
            clflushopt: leaf7_ebx & (1 << 23) != 0,
            clwb: leaf7_ebx & (1 << 24) != 0,
            sfence: true,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        CpuFlushSupport {
            clflush: false,
            clflushopt: false,
            clwb: false,
            sfence: false,
        }
    }
}

/// The magic number of tmpfs in `statfs.f_type`.
#[cfg(feature = "file")]
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether `path` (a file or a directory) lives on tmpfs, which stands in for PM.
#[cfg(feature = "file")]
pub fn is_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a properly sized,
    // writable statfs buffer; statfs only writes into it.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &raw mut st) != 0 {
            return false;
        }
        #[allow(clippy::unnecessary_cast)]
        let t = st.f_type as i64;
        t == TMPFS_MAGIC
    }
}

/// The strategy the pool opener picks for a file at `path` (or a new file in the
/// directory `path`) when nothing overrides it: a cache-line flush on a DAX mount
/// (`dax` = `MAP_SYNC` accepted) or on tmpfs (emulated PM), `msync` elsewhere.
#[cfg(feature = "file")]
pub fn auto_strategy(path: &Path, dax: bool) -> FlushStrategy {
    let cpu = cpu_flush_support();
    if dax || is_tmpfs(path) {
        if let Some(s) = cpu.best_line_flush() {
            return s;
        }
    }
    FlushStrategy::Msync
}

/// Writes back every cache line overlapping `[ptr, ptr + len)` with the
/// strategy's instruction (nothing for `msync`, `eadr`, `none`: the caller syncs).
///
/// # Safety
/// `ptr..ptr+len` must be inside one live mapping, and the strategy must be
/// supported by this CPU ([`FlushStrategy::supported`]).
#[inline]
pub unsafe fn flush_lines(strategy: FlushStrategy, ptr: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    let start = (ptr as usize) & !(LINE - 1);
    let end = ptr as usize + len;
    match strategy {
        FlushStrategy::Clwb => {
            let mut p = start;
            while p < end {
                // SAFETY: the caller guarantees the line is mapped and clwb exists.
                unsafe { clwb(p as *const u8) };
                p += LINE;
            }
        }
        FlushStrategy::ClflushOpt => {
            let mut p = start;
            while p < end {
                // SAFETY: as above, for clflushopt.
                unsafe { clflushopt(p as *const u8) };
                p += LINE;
            }
        }
        FlushStrategy::Clflush => {
            let mut p = start;
            while p < end {
                // SAFETY: as above, for clflush.
                unsafe { clflush(p as *const u8) };
                p += LINE;
            }
        }
        FlushStrategy::Msync | FlushStrategy::Eadr | FlushStrategy::None => {}
    }
}

/// Writes back the one cache line holding `ptr` with the strategy's
/// instruction (nothing for the others).
///
/// # Safety
/// `ptr` must point into a live mapping, and the strategy must be supported by
/// this CPU.
#[inline(always)]
pub unsafe fn flush_line(strategy: FlushStrategy, ptr: *const u8) {
    // SAFETY: the caller guarantees the line is mapped and the instruction exists.
    unsafe {
        match strategy {
            FlushStrategy::Clwb => clwb(ptr),
            FlushStrategy::ClflushOpt => clflushopt(ptr),
            FlushStrategy::Clflush => clflush(ptr),
            FlushStrategy::Msync | FlushStrategy::Eadr | FlushStrategy::None => {}
        }
    }
}

/// Copies `src` to `dst` so that it is persistent after the next [`fence`]: with
/// a cache-line strategy, eADR or `none`, whole aligned lines are written with
/// non-temporal stores (no read for ownership, no flush needed) and partial
/// lines are copied and flushed; with `msync` (whose caller syncs) it is a plain
/// copy.
///
/// # Safety
/// `dst..dst+src.len()` must be inside one live writable mapping not
/// overlapping `src`, and the strategy supported by this CPU.
pub unsafe fn copy_persist(strategy: FlushStrategy, dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let nt =
        strategy.is_cache_line() || matches!(strategy, FlushStrategy::Eadr | FlushStrategy::None);
    if !nt || len < LINE {
        // SAFETY: the caller guarantees dst is valid for len bytes, no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, len);
            flush_lines(strategy, dst, len);
        }
        return;
    }
    let head = (LINE - (dst as usize) % LINE) % LINE;
    let body = (len - head) / LINE * LINE;
    let tail = len - head - body;
    // SAFETY: all three parts are inside dst..dst+len and src; no overlap.
    unsafe {
        if head > 0 {
            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, head);
            flush_lines(strategy, dst, head);
        }
        stream_lines(dst.add(head), src.as_ptr().add(head), body / LINE);
        if tail > 0 {
            let o = head + body;
            std::ptr::copy_nonoverlapping(src.as_ptr().add(o), dst.add(o), tail);
            flush_lines(strategy, dst.add(o), tail);
        }
    }
}

/// Flushes each range of lines `[a, b)` counted from the line-aligned offset
/// `base` of the region `[ptr, ptr + len)` (clamped to it).
///
/// # Safety
/// `ptr..ptr+len` must be one live mapping; the strategy supported by this CPU.
pub unsafe fn flush_line_ranges(
    strategy: FlushStrategy,
    ptr: *mut u8,
    len: usize,
    base: usize,
    lines: &[(usize, usize)],
) {
    macro_rules! each_line {
        ($f:ident) => {
            for &(a, b) in lines {
                let (x, y) = (base + a * LINE, (base + b * LINE).min(len));
                let mut o = x;
                while o < y {
                    // SAFETY: o < len, inside the mapping; the caller checked
                    // the strategy is supported.
                    unsafe { $f(ptr.add(o)) };
                    o += LINE;
                }
            }
        };
    }
    match strategy {
        FlushStrategy::Clwb => each_line!(clwb),
        FlushStrategy::ClflushOpt => each_line!(clflushopt),
        FlushStrategy::Clflush => each_line!(clflush),
        FlushStrategy::Msync | FlushStrategy::Eadr | FlushStrategy::None => {}
    }
}

/// Writes each range of lines `[a, b)` (counted from the line-aligned offset
/// `base` of the region `[ptr, ptr + len)`) from the consecutive bytes of `src`,
/// persistent after the next fence (see [`copy_persist`]).
///
/// # Safety
/// `ptr..ptr+len` must be one live mapping not overlapping `src`; `src` must
/// hold at least the bytes of all ranges (clamped to the region); the strategy
/// supported by this CPU.
pub unsafe fn stream_line_ranges(
    strategy: FlushStrategy,
    ptr: *mut u8,
    len: usize,
    base: usize,
    lines: &[(usize, usize)],
    src: &[u8],
) {
    let nt =
        strategy.is_cache_line() || matches!(strategy, FlushStrategy::Eadr | FlushStrategy::None);
    let mut pos = 0;
    for &(a, b) in lines {
        let (x, y) = (base + a * LINE, (base + b * LINE).min(len));
        if x >= y {
            continue;
        }
        let n = y - x;
        assert!(pos + n <= src.len(), "stage shorter than the logged lines");
        if nt && n % LINE == 0 && (ptr as usize + x) % LINE == 0 {
            // SAFETY: [x, y) inside the mapping, line aligned; src holds n bytes
            // at pos.
            unsafe { stream_lines(ptr.add(x), src.as_ptr().add(pos), n / LINE) };
        } else {
            // SAFETY: as above.
            unsafe { copy_persist(strategy, ptr.add(x), &src[pos..pos + n]) };
        }
        pos += n;
    }
}

/// Copies each line `l` of `lines` from the line-aligned offset `src + l * 64`
/// of the region `[ptr, ptr + len)` to `dst + l * 64`, persistent after the
/// next fence (non-temporal stores for a cache-line strategy, eadr and none;
/// a copy and a flush otherwise). Lines reaching past the region are skipped.
/// The source of a line a few lines ahead is prefetched: the lines are
/// scattered, and the copy of one line does not depend on another.
///
/// # Safety
/// `ptr..ptr+len` must be one live mapping; the areas `src + l * 64` and
/// `dst + l * 64` must not overlap for any listed `l`; the strategy supported
/// by this CPU.
pub unsafe fn copy_line_list(
    strategy: FlushStrategy,
    ptr: *mut u8,
    len: usize,
    src: usize,
    dst: usize,
    lines: &[usize],
) {
    let nt =
        strategy.is_cache_line() || matches!(strategy, FlushStrategy::Eadr | FlushStrategy::None);
    for (k, &l) in lines.iter().enumerate() {
        if let Some(&ahead) = lines.get(k + PREFETCH_AHEAD) {
            let a = src.saturating_add(ahead.saturating_mul(LINE));
            if a < len {
                // SAFETY: `a` is inside the mapping.
                unsafe { prefetch(ptr.add(a)) };
            }
        }
        let (Some(s), Some(d)) = (
            l.checked_mul(LINE).and_then(|o| o.checked_add(src)),
            l.checked_mul(LINE).and_then(|o| o.checked_add(dst)),
        ) else {
            continue;
        };
        if s.saturating_add(LINE) > len || d.saturating_add(LINE) > len {
            continue;
        }
        // SAFETY: both lines lie inside the mapping and do not overlap (caller);
        // dst + l * 64 is line aligned when the mapping is (page aligned) and
        // dst is.
        unsafe {
            if nt && (ptr as usize + d) % LINE == 0 {
                stream_lines(ptr.add(d), ptr.add(s), 1);
            } else {
                std::ptr::copy_nonoverlapping(ptr.add(s), ptr.add(d), LINE);
                flush_lines(strategy, ptr.add(d), LINE);
            }
        }
    }
}

/// Hints the CPU to bring the line at `p` into the cache.
///
/// # Safety
/// `p` must point into a live mapping (a prefetch neither faults nor changes
/// memory, but we keep to mapped addresses).
#[inline(always)]
unsafe fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetcht0 only hints the cache; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How many lines ahead [`copy_line_list`] prefetches its source.
const PREFETCH_AHEAD: usize = 8;

/// Writes `lines` whole lines from `src` to the line-aligned `dst` with
/// non-temporal stores.
///
/// # Safety
/// `src` and `dst` must be valid for `lines * 64` bytes, must not overlap,
/// and `dst` must be 64-byte aligned.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn stream_lines(dst: *mut u8, src: *const u8, lines: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
    for l in 0..lines {
        // SAFETY: the caller guarantees both ranges are valid for lines * 64
        // bytes and dst is 64-byte aligned (so each 16-byte store is aligned);
        // SSE2 is part of x86_64.
        unsafe {
            let s = src.add(l * LINE) as *const __m128i;
            let d = dst.add(l * LINE) as *mut __m128i;
            let (a, b, c, e) = (
                _mm_loadu_si128(s),
                _mm_loadu_si128(s.add(1)),
                _mm_loadu_si128(s.add(2)),
                _mm_loadu_si128(s.add(3)),
            );
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
    }
}

/// Copies `lines` whole lines from `src` to `dst` (no streaming stores here).
///
/// # Safety
/// As for the x86_64 version: both ranges valid for `lines * 64` bytes and
/// not overlapping.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn stream_lines(dst: *mut u8, src: *const u8, lines: usize) {
    // SAFETY: the caller guarantees both ranges are valid for lines * 64
    // bytes and do not overlap, which is all copy_nonoverlapping needs.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, lines * LINE) }
}

/// The persistence fence of the strategy: `sfence` for clwb, clflushopt, clflush
/// (clflush is ordered by itself, but the non-temporal stores of
/// [`copy_persist`] are not) and eadr; a compiler fence for msync (synchronous)
/// and none.
#[inline]
pub fn fence(strategy: FlushStrategy) {
    match strategy {
        FlushStrategy::Clwb
        | FlushStrategy::ClflushOpt
        | FlushStrategy::Clflush
        | FlushStrategy::Eadr => sfence(),
        FlushStrategy::Msync | FlushStrategy::None => {
            std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Writes back (and for the flush forms, evicts) the cache line holding `p`.
///
/// # Safety
/// `p` must point into memory mapped in this process, and the CPU must have clwb.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn clwb(p: *const u8) {
    // SAFETY: the caller guarantees `p` is mapped and the CPU has clwb; clwb
    // neither writes memory visible to Rust nor touches the stack or flags.
    unsafe { std::arch::asm!("clwb [{0}]", in(reg) p, options(nostack, preserves_flags)) }
}

/// Writes back (and for the flush forms, evicts) the cache line holding `p`.
///
/// # Safety
/// `p` must point into memory mapped in this process, and the CPU must have clflushopt.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn clflushopt(p: *const u8) {
    // SAFETY: as for clwb.
    unsafe { std::arch::asm!("clflushopt [{0}]", in(reg) p, options(nostack, preserves_flags)) }
}

/// Writes back (and for the flush forms, evicts) the cache line holding `p`.
///
/// # Safety
/// `p` must point into memory mapped in this process, (every x86_64 CPU has clflush).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn clflush(p: *const u8) {
    // SAFETY: as for clwb; clflush exists on every x86_64 CPU.
    unsafe { std::arch::asm!("clflush [{0}]", in(reg) p, options(nostack, preserves_flags)) }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sfence() {
    // SAFETY: sfence exists on every x86_64 CPU (SSE) and only orders stores.
    unsafe { std::arch::x86_64::_mm_sfence() }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clwb(_p: *const u8) {}
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clflushopt(_p: *const u8) {}
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clflush(_p: *const u8) {}
#[cfg(not(target_arch = "x86_64"))]
fn sfence() {
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in FlushStrategy::ALL {
            assert_eq!(s.name().parse::<FlushStrategy>().unwrap(), s);
        }
        assert!(matches!(
            "clwbx".parse::<FlushStrategy>(),
            Err(PtmError::UnknownFlush(_))
        ));
    }

    #[test]
    fn cpu_probe_is_consistent() {
        let s = cpu_flush_support();
        #[cfg(target_arch = "x86_64")]
        assert!(s.clflush, "every x86_64 CPU has clflush");
        // The best line flush is one the CPU has.
        if let Some(b) = s.best_line_flush() {
            assert!(b.supported());
        }
    }

    #[test]
    fn flushing_supported_strategies_keeps_data() {
        let mut buf = vec![7u8; 4096];
        for s in FlushStrategy::ALL.into_iter().filter(|s| s.supported()) {
            buf[100] = 1;
            // SAFETY: buf is live and the strategy supported.
            unsafe { flush_lines(s, buf.as_ptr().wrapping_add(10), 300) };
            fence(s);
            assert_eq!(buf[100], 1);
            assert_eq!(buf[4000], 7);
        }
    }

    #[test]
    fn copy_line_list_copies_listed_lines_and_skips_the_rest() {
        // A 64-byte aligned region of 16 lines: lines 0..8 are the source,
        // 8..16 the destination (dst = src + 8 lines), plus a misaligned
        // destination base for the copy-and-flush branch.
        let mut buf = vec![0u8; 17 * LINE];
        let off = (LINE - buf.as_ptr() as usize % LINE) % LINE;
        for s in FlushStrategy::ALL.into_iter().filter(|s| s.supported()) {
            for (dst_shift, lines) in [
                (0usize, vec![3usize, 0, 3, 7]),
                (5, vec![1, 6]),
                (0, vec![2, 8, usize::MAX / 2]),
            ] {
                let region = &mut buf[off..off + 16 * LINE];
                for (i, b) in region.iter_mut().enumerate() {
                    *b = if i < 8 * LINE { (i % 251) as u8 + 1 } else { 0 };
                }
                let dst = 8 * LINE + dst_shift;
                let len = 16 * LINE;
                // SAFETY: the region is live and `len` long; source lines
                // (< 8 * 64) and destination lines (>= 8 * 64) do not
                // overlap.
                unsafe { copy_line_list(s, region.as_mut_ptr(), len, 0, dst, &lines) };
                fence(s);
                for l in 0..8 {
                    let copied = lines.contains(&l) && dst + (l + 1) * LINE <= len;
                    let (src_line, dst_line) = (
                        region[l * LINE..(l + 1) * LINE].to_vec(),
                        &region[dst + l * LINE..(dst + (l + 1) * LINE).min(len)],
                    );
                    if copied {
                        assert_eq!(dst_line, &src_line[..], "{s} line {l}");
                    } else if dst + l * LINE < len {
                        // Not listed, or reaching past the region: untouched.
                        assert!(dst_line.iter().all(|b| *b == 0), "{s} line {l}");
                    }
                }
            }
        }
    }

    #[test]
    fn copy_persist_copies_any_alignment_and_length() {
        let src: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for s in FlushStrategy::ALL.into_iter().filter(|s| s.supported()) {
            for (dst_off, len) in [(0, 1000), (1, 999), (63, 130), (64, 64), (5, 3), (100, 0)] {
                let mut dst = vec![0u8; 1200];
                // SAFETY: dst has room for dst_off + len bytes; no overlap with src.
                unsafe { copy_persist(s, dst.as_mut_ptr().add(dst_off), &src[..len]) };
                fence(s);
                assert_eq!(
                    &dst[dst_off..dst_off + len],
                    &src[..len],
                    "{s} {dst_off} {len}"
                );
                assert!(dst[..dst_off].iter().all(|b| *b == 0));
                assert!(dst[dst_off + len..].iter().all(|b| *b == 0));
            }
        }
    }

    #[test]
    #[cfg(feature = "file")]
    fn dev_shm_is_tmpfs_when_present() {
        let p = Path::new("/dev/shm");
        if p.exists() {
            assert!(is_tmpfs(p));
        }
        assert!(!is_tmpfs(Path::new("/proc")));
    }
}
