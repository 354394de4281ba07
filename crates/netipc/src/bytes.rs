//! Native-endian integer access to byte slices and the alignment helpers
//! of the wire formats: the one place the crate reads and writes raw
//! integers.
//!
//! Two forms exist on purpose:
//!
//! * `get_*` / `put_*` index directly and panic when out of bounds; callers
//!   use them after checking the length once (fixed-size headers);
//! * `read_*` return `None` when the value does not fit, for decoders that
//!   check each field as they go.
//!
//! Every integer of protocol v1 is in the host's native byte order.

// Some helpers serve only the Unix transports.
#![cfg_attr(not(unix), allow(dead_code))]

/// Rounds `x` up to the next multiple of 8 (also public as `wire::align8`).
#[inline(always)]
pub const fn align8(x: usize) -> usize {
    (x + 7) & !7
}

/// Rounds `x` up to the next multiple of 64 (also public as
/// `wire::align64`).
#[inline(always)]
pub const fn align64(x: usize) -> usize {
    (x + 63) & !63
}

/// Rounds `x` up to the next multiple of 64, for sizes computed in `u64`.
#[inline(always)]
pub(crate) const fn align64_u64(x: u64) -> u64 {
    (x + 63) & !63
}

/// Reads a native-endian `u16` at `off`; the caller has checked the length.
#[inline(always)]
pub(crate) fn get_u16(b: &[u8], off: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[off..off + 2]);
    u16::from_ne_bytes(a)
}

/// Reads a native-endian `u32` at `off`; the caller has checked the length.
#[inline(always)]
pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

/// Reads a native-endian `u64` at `off`; the caller has checked the length.
#[inline(always)]
pub(crate) fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// Writes a native-endian `u16` at `off`.
#[inline(always)]
pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a native-endian `u32` at `off`.
#[inline(always)]
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a native-endian `u64` at `off`.
#[inline(always)]
pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Reads a native-endian `u16` at `at`, or `None` if it does not fit.
#[inline(always)]
pub(crate) fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes
        .get(at..at.checked_add(2)?)?
        .try_into()
        .ok()
        .map(u16::from_ne_bytes)
}

/// Reads a native-endian `u32` at `at`, or `None` if it does not fit.
#[inline(always)]
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_ne_bytes)
}

/// Reads a native-endian `u64` at `at`, or `None` if it does not fit.
#[inline(always)]
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!([0, 1, 8, 9].map(align8), [0, 8, 8, 16]);
        assert_eq!([0, 1, 64, 65].map(align64), [0, 64, 64, 128]);
        assert_eq!(align64_u64(u64::from(u32::MAX)), 1 << 32);
    }

    #[test]
    fn get_put_round_trip() {
        let mut b = [0u8; 14];
        put_u16(&mut b, 0, 0xbeef);
        put_u32(&mut b, 2, 0xdead_beef);
        put_u64(&mut b, 6, 0x0123_4567_89ab_cdef);
        assert_eq!(get_u16(&b, 0), 0xbeef);
        assert_eq!(get_u32(&b, 2), 0xdead_beef);
        assert_eq!(get_u64(&b, 6), 0x0123_4567_89ab_cdef);
        assert_eq!(&b[2..6], &0xdead_beef_u32.to_ne_bytes());
    }

    #[test]
    fn read_is_bounds_checked() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(read_u16(&b, 6), Some(u16::from_ne_bytes([7, 8])));
        assert_eq!(read_u16(&b, 7), None);
        assert_eq!(read_u32(&b, 4), Some(u32::from_ne_bytes([5, 6, 7, 8])));
        assert_eq!(read_u32(&b, 5), None);
        assert_eq!(read_u64(&b, 0), Some(u64::from_ne_bytes(b)));
        assert_eq!(read_u64(&b, 1), None);
        assert_eq!(read_u64(&b, usize::MAX), None);
    }
}
