//! Small helpers shared by the fuzz targets.
//!
//! The targets check the library's decoders against independent readings of
//! the raw bytes, so these helpers deliberately do not reuse anything from
//! `netipc`: they read native-endian integers straight from a slice.

/// Native-endian `u16` at `at`. Panics if the slice is too short; callers
/// check lengths first.
pub fn ne_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

/// Native-endian `u32` at `at`. Panics if the slice is too short.
pub fn ne_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Native-endian `u64` at `at`. Panics if the slice is too short.
pub fn ne_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

/// Rounds `x` up to a multiple of 8.
pub fn round8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}
