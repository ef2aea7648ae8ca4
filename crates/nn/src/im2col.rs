//! im2col / col2im for activations in the crate's `[C][B][H][W]` layout.
//!
//! For a chunk of `nb` images starting at image `b0`, the column matrix has
//! `K = C * size * size` rows (ordered `c, ky, kx`, the order of Darknet's weights)
//! and `nb * OH * OW` columns (ordered `image, oy, ox`).

/// Zeroes a slice that is usually 0-2 elements long without a `memset` call.
#[inline(always)]
fn zero_small(s: &mut [f32]) {
    match s.len() {
        0 => {}
        1 => s[0] = 0.0,
        2 => {
            s[0] = 0.0;
            s[1] = 0.0;
        }
        _ => s.fill(0.0),
    }
}

/// Geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub size: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Rows of the column matrix.
    pub fn k(&self) -> usize {
        self.c * self.size * self.size
    }

    /// Output pixels per image.
    pub fn n(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the column matrix is the input itself (1x1, stride 1, no pad).
    pub fn is_pointwise(&self) -> bool {
        self.size == 1 && self.stride == 1 && self.pad == 0
    }

    /// Valid output columns `[lo, hi)` for kernel column `kx` (those whose input
    /// column is inside the image).
    #[inline]
    fn valid_range(&self, k: usize, outer: usize, inner: usize) -> (usize, usize) {
        // input index = o * stride + k - pad, valid when 0 <= . < inner
        let lo = if self.pad > k {
            (self.pad - k).div_ceil(self.stride)
        } else {
            0
        };
        let hi = if inner + self.pad > k {
            ((inner + self.pad - k - 1) / self.stride + 1).min(outer)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// Fills `cols` (`K x nb*N`, row-major) from images `b0..b0+nb` of `input`
/// (`[C][batch][H][W]`).
pub(crate) fn im2col(
    g: &ConvGeom,
    input: &[f32],
    batch: usize,
    b0: usize,
    nb: usize,
    cols: &mut [f32],
) {
    let hw = g.h * g.w;
    im2col_planes(g, |c| &input[(c * batch + b0) * hw..][..nb * hw], nb, cols);
}

/// [`im2col`] reading the chunk's `nb * H * W` region of channel `c` from
/// `planes(c)`.
pub(crate) fn im2col_planes<'a>(
    g: &ConvGeom,
    planes: impl Fn(usize) -> &'a [f32],
    nb: usize,
    cols: &mut [f32],
) {
    let hw = g.h * g.w;
    let n = g.n();
    let row_len = nb * n;
    debug_assert!(cols.len() >= g.k() * row_len);
    // Stride 1 with the output as wide as the input ("same" width): each valid
    // output block is the input plane shifted by a constant, so one contiguous
    // copy per row covering all the chunk's images, then the rows and columns
    // that fell outside each image are zeroed.
    let shifted = g.stride == 1 && g.ow == g.w;
    let mut r = 0;
    for c in 0..g.c {
        let chunk = planes(c);
        for ky in 0..g.size {
            let (oy_lo, oy_hi) = g.valid_range(ky, g.oh, g.h);
            for kx in 0..g.size {
                let (ox_lo, ox_hi) = g.valid_range(kx, g.ow, g.w);
                let row = &mut cols[r * row_len..(r + 1) * row_len];
                if shifted && oy_hi > oy_lo {
                    // The whole chunk at once: the images are contiguous both
                    // in `chunk` and in `row` (N == H*W here), so
                    // row[i] = chunk[i + s0] for every valid output; then the
                    // rows and columns that fell outside each image are zeroed.
                    debug_assert_eq!(n, hw);
                    let s0 = (ky * g.w + kx) as isize - (g.pad * g.w + g.pad) as isize;
                    let lo = if s0 < 0 { (-s0) as usize } else { 0 };
                    let hi = row_len.min((row_len as isize - s0) as usize);
                    row[..lo].fill(0.0);
                    row[hi..].fill(0.0);
                    let src0 = (lo as isize + s0) as usize;
                    row[lo..hi].copy_from_slice(&chunk[src0..src0 + (hi - lo)]);
                    for out in row.chunks_exact_mut(n) {
                        out[..oy_lo * g.w].fill(0.0);
                        out[oy_hi * g.w..].fill(0.0);
                        if ox_lo > 0 || ox_hi < g.w {
                            for line in out[oy_lo * g.w..oy_hi * g.w].chunks_exact_mut(g.w) {
                                zero_small(&mut line[..ox_lo]);
                                zero_small(&mut line[ox_hi..]);
                            }
                        }
                    }
                    r += 1;
                    continue;
                }
                for bi in 0..nb {
                    let plane = &chunk[bi * hw..(bi + 1) * hw];
                    let out = &mut row[bi * n..(bi + 1) * n];
                    out[..oy_lo * g.ow].fill(0.0);
                    out[oy_hi * g.ow..].fill(0.0);
                    if oy_hi <= oy_lo {
                        continue;
                    }
                    if shifted {
                        // out[oy*w + ox] = plane[(oy + ky - pad)*w + ox + kx - pad]
                        let d0 = oy_lo * g.w;
                        let d1 = oy_hi * g.w;
                        let s0 = (d0 + ky * g.w + kx) as isize - (g.pad * g.w + g.pad) as isize;
                        // Clip the span to the plane; clipped ends are border columns.
                        let lo = if s0 < 0 { (-s0) as usize } else { 0 };
                        let hi = (d1 - d0).min((hw as isize - s0) as usize);
                        let dst = &mut out[d0..d1];
                        zero_small(&mut dst[..lo]);
                        zero_small(&mut dst[hi..]);
                        let src0 = (s0 + lo as isize) as usize;
                        dst[lo..hi].copy_from_slice(&plane[src0..src0 + (hi - lo)]);
                        for oy in oy_lo..oy_hi {
                            let line = &mut out[oy * g.w..(oy + 1) * g.w];
                            zero_small(&mut line[..ox_lo]);
                            zero_small(&mut line[ox_hi..]);
                        }
                        continue;
                    }
                    for oy in oy_lo..oy_hi {
                        let iy = oy * g.stride + ky - g.pad;
                        let src = &plane[iy * g.w..(iy + 1) * g.w];
                        let dst = &mut out[oy * g.ow..(oy + 1) * g.ow];
                        zero_small(&mut dst[..ox_lo]);
                        zero_small(&mut dst[ox_hi..]);
                        if ox_hi > ox_lo {
                            let ix0 = ox_lo * g.stride + kx - g.pad;
                            if g.stride == 1 {
                                dst[ox_lo..ox_hi].copy_from_slice(&src[ix0..ix0 + (ox_hi - ox_lo)]);
                            } else {
                                for (j, d) in dst[ox_lo..ox_hi].iter_mut().enumerate() {
                                    *d = src[ix0 + j * g.stride];
                                }
                            }
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// Adds the column matrix `cols` (`K x nb*N`) back onto image planes:
/// `planes(c)` is the `nb * H * W` region of channel `c` for the chunk, which
/// this function first zeroes.
pub(crate) fn col2im<'a>(
    g: &ConvGeom,
    cols: &mut [f32],
    nb: usize,
    mut planes: impl FnMut(usize) -> &'a mut [f32],
) {
    let hw = g.h * g.w;
    let n = g.n();
    let row_len = nb * n;
    let shifted = g.stride == 1 && g.ow == g.w;
    let mut r = 0;
    for c in 0..g.c {
        let dst_all = planes(c);
        debug_assert_eq!(dst_all.len(), nb * hw);
        dst_all.fill(0.0);
        for ky in 0..g.size {
            let (oy_lo, oy_hi) = g.valid_range(ky, g.oh, g.h);
            for kx in 0..g.size {
                let (ox_lo, ox_hi) = g.valid_range(kx, g.ow, g.w);
                let row = &mut cols[r * row_len..(r + 1) * row_len];
                r += 1;
                if ox_hi <= ox_lo || oy_hi <= oy_lo {
                    continue;
                }
                if shifted {
                    // Zero the entries of rows and columns outside each image,
                    // then add the row for all the chunk's images as one
                    // shifted span (images are contiguous on both sides).
                    debug_assert_eq!(n, hw);
                    for src_img in row.chunks_exact_mut(n) {
                        src_img[..oy_lo * g.w].fill(0.0);
                        src_img[oy_hi * g.w..].fill(0.0);
                        if ox_lo > 0 || ox_hi < g.w {
                            for line in src_img[oy_lo * g.w..oy_hi * g.w].chunks_exact_mut(g.w) {
                                zero_small(&mut line[..ox_lo]);
                                zero_small(&mut line[ox_hi..]);
                            }
                        }
                    }
                    let s0 = (ky * g.w + kx) as isize - (g.pad * g.w + g.pad) as isize;
                    let lo = if s0 < 0 { (-s0) as usize } else { 0 };
                    let hi = row_len.min((row_len as isize - s0) as usize);
                    let t0 = (lo as isize + s0) as usize;
                    let src = &row[lo..hi];
                    for (dv, sv) in dst_all[t0..t0 + src.len()].iter_mut().zip(src) {
                        *dv += sv;
                    }
                    continue;
                }
                let ix0 = ox_lo * g.stride + kx - g.pad;
                for bi in 0..nb {
                    let src_img = &mut row[bi * n..(bi + 1) * n];
                    let dst = &mut dst_all[bi * hw..(bi + 1) * hw];
                    if shifted {
                        // Zero the entries of columns outside the image, then
                        // add the whole valid block as one shifted span.
                        for oy in oy_lo..oy_hi {
                            let line = &mut src_img[oy * g.w..(oy + 1) * g.w];
                            zero_small(&mut line[..ox_lo]);
                            zero_small(&mut line[ox_hi..]);
                        }
                        let d0 = oy_lo * g.w;
                        let d1 = oy_hi * g.w;
                        let s0 = (d0 + ky * g.w + kx) as isize - (g.pad * g.w + g.pad) as isize;
                        let lo = if s0 < 0 { (-s0) as usize } else { 0 };
                        let hi = (d1 - d0).min((hw as isize - s0) as usize);
                        let t0 = (s0 + lo as isize) as usize;
                        let src = &src_img[d0 + lo..d0 + hi];
                        for (dv, sv) in dst[t0..t0 + src.len()].iter_mut().zip(src) {
                            *dv += sv;
                        }
                        continue;
                    }
                    for oy in oy_lo..oy_hi {
                        let iy = oy * g.stride + ky - g.pad;
                        let s = &src_img[oy * g.ow + ox_lo..oy * g.ow + ox_hi];
                        let d = &mut dst[iy * g.w..(iy + 1) * g.w];
                        if g.stride == 1 {
                            for (dv, sv) in d[ix0..ix0 + s.len()].iter_mut().zip(s) {
                                *dv += sv;
                            }
                        } else {
                            for (j, sv) in s.iter().enumerate() {
                                d[ix0 + j * g.stride] += sv;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_im2col(g: &ConvGeom, input: &[f32], batch: usize, b0: usize, nb: usize) -> Vec<f32> {
        let n = g.n();
        let mut cols = vec![0.0; g.k() * nb * n];
        for c in 0..g.c {
            for ky in 0..g.size {
                for kx in 0..g.size {
                    let r = (c * g.size + ky) * g.size + kx;
                    for bi in 0..nb {
                        for oy in 0..g.oh {
                            for ox in 0..g.ow {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                let v = if iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < g.h
                                    && (ix as usize) < g.w
                                {
                                    input[((c * batch + b0 + bi) * g.h + iy as usize) * g.w
                                        + ix as usize]
                                } else {
                                    0.0
                                };
                                cols[r * nb * n + bi * n + oy * g.ow + ox] = v;
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn im2col_and_col2im_match_naive() {
        for &(size, stride, pad, h, w) in &[
            (3, 1, 1, 5, 6),
            (3, 2, 1, 7, 5),
            (1, 1, 0, 4, 4),
            (2, 2, 0, 6, 6),
            (5, 1, 2, 4, 3),
            (3, 3, 0, 8, 8),
        ] {
            let c = 2;
            let batch = 3;
            let oh = (h + 2 * pad - size) / stride + 1;
            let ow = (w + 2 * pad - size) / stride + 1;
            let g = ConvGeom {
                c,
                h,
                w,
                size,
                stride,
                pad,
                oh,
                ow,
            };
            let input: Vec<f32> = (0..c * batch * h * w).map(|i| i as f32 + 1.0).collect();
            let (b0, nb) = (1, 2);
            let mut cols = vec![f32::NAN; g.k() * nb * g.n()];
            im2col(&g, &input, batch, b0, nb, &mut cols);
            assert_eq!(
                cols,
                naive_im2col(&g, &input, batch, b0, nb),
                "{size} {stride} {pad}"
            );
            // col2im is the adjoint: <im2col(x), y> == <x, col2im(y)>.
            let y: Vec<f32> = (0..cols.len())
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect();
            let mut back = vec![f32::NAN; c * batch * h * w];
            let hw = h * w;
            {
                let mut chunks: Vec<&mut [f32]> = back.chunks_mut(batch * hw).collect();
                let mut planes: Vec<&mut [f32]> = chunks
                    .iter_mut()
                    .map(|p| &mut p[b0 * hw..(b0 + nb) * hw])
                    .collect();
                let mut it = planes.drain(..);
                let mut y2 = y.clone();
                col2im(&g, &mut y2, nb, |_| it.next().unwrap());
            }
            let lhs: f64 = cols
                .iter()
                .zip(&y)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let mut rhs = 0.0f64;
            for ch in 0..c {
                for bi in 0..nb {
                    for p in 0..hw {
                        let idx = (ch * batch + b0 + bi) * hw + p;
                        rhs += input[idx] as f64 * back[idx] as f64;
                    }
                }
            }
            assert!((lhs - rhs).abs() < 1e-6 * lhs.abs().max(1.0), "{lhs} {rhs}");
        }
    }
}
