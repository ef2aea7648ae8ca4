//! The byte cursor: a reader and a writer over byte slices.

use zeroize::Zeroizing;

use crate::{Result, WireError};

/// Reads fields from a byte slice, front to back; every read names its
/// field, so a short input is reported as "truncated `<field>`".
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `b`, which `what` names in errors.
    pub fn new(b: &'a [u8], what: &'a str) -> Self {
        Reader { b, pos: 0, what }
    }

    /// The offset of the next read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    /// The next `n` bytes (`field` names them in errors).
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let left = self.remaining();
        if n > left {
            return Err(WireError::Truncated {
                what: self.what.to_string(),
                field,
                need: n,
                left,
            });
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<()> {
        self.take(n, field).map(|_| ())
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    /// A byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }

    /// A u16, little endian.
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        self.array(field).map(u16::from_le_bytes)
    }

    /// A u32, little endian.
    pub fn u32(&mut self, field: &'static str) -> Result<u32> {
        self.array(field).map(u32::from_le_bytes)
    }

    /// A u64, little endian.
    pub fn u64(&mut self, field: &'static str) -> Result<u64> {
        self.array(field).map(u64::from_le_bytes)
    }

    /// `n` bytes of UTF-8 text.
    pub fn str(&mut self, n: usize, field: &'static str) -> Result<&'a str> {
        let what = self.what;
        std::str::from_utf8(self.take(n, field)?).map_err(|_| WireError::Invalid {
            what: what.to_string(),
            field,
            reason: "is not UTF-8".into(),
        })
    }

    /// The rest of the bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }

    /// Ends the read: an error if bytes are left.
    pub fn finish(self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(WireError::Trailing {
                what: self.what.to_string(),
                extra,
            }),
        }
    }

    /// An [`WireError::Invalid`] about `field` of the thing being read.
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> WireError {
        WireError::Invalid {
            what: self.what.to_string(),
            field,
            reason: reason.into(),
        }
    }
}

/// Appends fields to a buffer that is zeroised when dropped (formats may
/// hold key bytes).
#[derive(Default)]
pub struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({} bytes)", self.buf.len())
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Zeroizing::new(Vec::with_capacity(n)),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Appends `b`.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a u16, little endian.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a u32, little endian.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a u64, little endian.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends zero bytes up to offset `len` (nothing if already there).
    pub fn pad_to(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    /// Appends the [`crate::checksum8`] of everything written so far.
    pub fn checksum(&mut self) {
        let c = crate::checksum8(&self.buf);
        self.bytes(&c);
    }

    /// The bytes, in a buffer zeroised on drop.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }

    /// The bytes (for formats that hold no secret).
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.buf)
    }

    /// The bytes as an array of exactly `N` bytes, zero padded: `None` if
    /// more than `N` bytes were written.
    pub fn into_array<const N: usize>(self) -> Option<[u8; N]> {
        if self.buf.len() > N {
            return None;
        }
        let mut a = [0u8; N];
        a[..self.buf.len()].copy_from_slice(&self.buf);
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_every_width() {
        let mut w = Writer::new();
        w.u8(1);
        w.u16(0x0203);
        w.u32(0x0405_0607);
        w.u64(0x0809_0A0B_0C0D_0E0F);
        w.u16(2);
        w.bytes(b"hi");
        w.pad_to(24);
        assert_eq!(w.len(), 24);
        let b = w.into_vec();
        let mut r = Reader::new(&b, "rec");
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(r.u64("d").unwrap(), 0x0809_0A0B_0C0D_0E0F);
        let n = r.u16("name length").unwrap() as usize;
        assert_eq!(r.str(n, "name").unwrap(), "hi");
        let e = r.clone().finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "rec: trailing bytes (5 after the last field)"
        );
        let e = r.take(6, "tail").unwrap_err();
        assert_eq!(e.to_string(), "rec: truncated tail (needs 6 bytes, 5 left)");
        assert_eq!(r.rest().len(), 5);
        r.finish().unwrap();
    }

    #[test]
    fn bad_text_and_arrays() {
        let mut r = Reader::new(&[0xFF, 0xFE], "x");
        assert_eq!(
            r.str(2, "name").unwrap_err().to_string(),
            "x: name is not UTF-8"
        );
        let mut w = Writer::new();
        w.bytes(&[1, 2, 3]);
        assert_eq!(w.into_array::<4>(), Some([1, 2, 3, 0]));
        let mut w = Writer::new();
        w.bytes(&[1, 2, 3]);
        assert_eq!(w.into_array::<2>(), None);
    }
}
