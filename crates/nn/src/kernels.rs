//! Low-level kernels: the GEMM wrapper over the `gemm` crate and a shared
//! mutable view used when several threads write disjoint, interleaved parts of
//! one buffer. All of the crate's `unsafe` lives here.

/// A strided matrix view inside a slice: element `(i, j)` is at
/// `offset + i * rs + j * cs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided {
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Strided {
    /// Row-major contiguous matrix with `cols` columns starting at `offset`.
    pub fn row_major(offset: usize, cols: usize) -> Self {
        Strided {
            offset,
            rs: cols,
            cs: 1,
        }
    }

    /// One past the last element touched by a `rows x cols` matrix.
    fn end(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return self.offset;
        }
        self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs + 1
    }
}

/// A raw pointer to a buffer that several threads write, each a disjoint set
/// of elements.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `SharedMut` is only a pointer plus length; every function that writes
// through it is `unsafe` and requires its callers to write disjoint elements
// while the buffer it was made from is borrowed mutably for the whole parallel
// section (see `SharedMut::new`).
unsafe impl Send for SharedMut {}
// SAFETY: as above; reads and writes through it are to disjoint elements.
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// Wraps a mutable slice. The slice stays mutably borrowed for the
    /// lifetime the caller gives the result (it must not outlive `buf`'s borrow).
    pub fn new(buf: &mut [f32]) -> Self {
        SharedMut {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// A mutable sub-slice `[start, start + len)`.
    ///
    /// # Safety
    /// No other thread may access these elements while the returned slice
    /// lives, and the buffer behind `self` must stay borrowed for `'a`.
    pub unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(start + len <= self.len, "SharedMut::slice out of bounds");
        // SAFETY: in bounds (asserted); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// A read-only operand: a slice, or a region of a [`SharedMut`] buffer that
/// other threads write elsewhere (a `&[f32]` over it would alias their writes).
#[derive(Clone, Copy)]
pub(crate) struct Src {
    ptr: *const f32,
    len: usize,
}

impl From<&[f32]> for Src {
    fn from(s: &[f32]) -> Self {
        Src {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

impl From<&Vec<f32>> for Src {
    fn from(s: &Vec<f32>) -> Self {
        Src {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

impl From<SharedMut> for Src {
    fn from(s: SharedMut) -> Self {
        Src {
            ptr: s.ptr,
            len: s.len,
        }
    }
}

/// `dst = (accumulate ? dst : 0) + lhs * rhs` for an `m x k` lhs and a `k x n`
/// rhs, through a [`SharedMut`].
///
/// # Safety
/// The elements of `dst` touched by the `m x n` view must not be accessed by any
/// other thread during the call, the elements of `lhs` and `rhs` read must not
/// be written during the call, and all three buffers must still be borrowed.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_shared(
    m: usize,
    n: usize,
    k: usize,
    dst: SharedMut,
    d: Strided,
    accumulate: bool,
    lhs: impl Into<Src>,
    l: Strided,
    rhs: impl Into<Src>,
    r: Strided,
) {
    let (lhs, rhs) = (lhs.into(), rhs.into());
    if m == 0 || n == 0 {
        return;
    }
    assert!(d.end(m, n) <= dst.len, "gemm: dst out of bounds");
    assert!(l.end(m, k) <= lhs.len, "gemm: lhs out of bounds");
    assert!(r.end(k, n) <= rhs.len, "gemm: rhs out of bounds");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: in bounds (checked above); exclusive per contract.
                    unsafe { *dst.ptr.add(d.offset + i * d.rs + j * d.cs) = 0.0 };
                }
            }
        }
        return;
    }
    // SAFETY: every view was bounds-checked above for its full extent; the
    // strides are non-negative and fit isize since the buffers are slices;
    // exclusivity of the written elements is the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.ptr.add(d.offset),
            d.cs as isize,
            d.rs as isize,
            accumulate,
            lhs.ptr.add(l.offset),
            l.cs as isize,
            l.rs as isize,
            rhs.ptr.add(r.offset),
            r.cs as isize,
            r.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Safe GEMM on a mutable slice (single thread):
/// `dst = (accumulate ? dst : 0) + lhs * rhs`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    d: Strided,
    accumulate: bool,
    lhs: &[f32],
    l: Strided,
    rhs: &[f32],
    r: Strided,
) {
    let shared = SharedMut::new(dst);
    // SAFETY: `dst` is borrowed mutably for the whole call and no other thread
    // sees it.
    unsafe { gemm_shared(m, n, k, shared, d, accumulate, lhs, l, rhs, r) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_with_strides() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        // b stored transposed (column-major k x n).
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 1.5).collect();
        let mut c = vec![1.0f32; m * n];
        gemm(
            m,
            n,
            k,
            &mut c,
            Strided::row_major(0, n),
            true,
            &a,
            Strided::row_major(0, k),
            &b,
            Strided {
                offset: 0,
                rs: 1,
                cs: k,
            },
        );
        for i in 0..m {
            for j in 0..n {
                let mut s = 1.0f32;
                for p in 0..k {
                    s += a[i * k + p] * b[j * k + p];
                }
                assert!((c[i * n + j] - s).abs() < 1e-4);
            }
        }
    }
}
