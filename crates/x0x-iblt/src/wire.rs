//! Bounds-checked little-endian reading. Every read returns
//! [`WireError::Truncated`] instead of panicking, so decoders of network
//! input can use `?` throughout.

use crate::error::WireError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(WireError::Truncated {
                offset: self.pos,
                needed: n,
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Fails if a declared payload of `items × item_len` bytes cannot fit
    /// in what is left. Called *before* allocating for the items, so a
    /// small message cannot make the receiver reserve a large buffer.
    pub(crate) fn expect_items(&self, items: usize, item_len: usize) -> Result<(), WireError> {
        let needed = items.saturating_mul(item_len);
        if needed > self.remaining() {
            return Err(WireError::Truncated {
                offset: self.pos,
                needed,
            });
        }
        Ok(())
    }

    /// Ends a top-level decode: leftover bytes are an error.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::TrailingBytes(n)),
        }
    }
}
