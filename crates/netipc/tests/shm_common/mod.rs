//! Helpers shared by the shared-memory integration tests.
#![allow(dead_code)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Outer message kinds.
pub const KIND_REQUEST: u16 = 1;
pub const KIND_RESPONSE: u16 = 2;

/// Header field offsets of the region (PROTOCOL §7.3).
pub const OFF_REQ_SEQ: u64 = 32;
pub const OFF_RESP_SEQ: u64 = 40;
pub const OFF_REQ_LEN: u64 = 48;
pub const OFF_RESP_LEN: u64 = 52;
pub const OFF_REQ_SIGNAL: u64 = 56;
pub const OFF_RESP_SIGNAL: u64 = 60;

/// A 32-byte outer header (PROTOCOL §2.1), built by hand so these tests do not
/// depend on the envelope module.
pub fn outer_header(kind: u16, code: u16, payload_len: u32, message_id: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(&0x4e49_5043u32.to_ne_bytes());
    h[4..6].copy_from_slice(&1u16.to_ne_bytes());
    h[6..8].copy_from_slice(&32u16.to_ne_bytes());
    h[8..10].copy_from_slice(&kind.to_ne_bytes());
    h[12..14].copy_from_slice(&code.to_ne_bytes());
    h[16..20].copy_from_slice(&payload_len.to_ne_bytes());
    h[20..24].copy_from_slice(&1u32.to_ne_bytes());
    h[24..32].copy_from_slice(&message_id.to_ne_bytes());
    h
}

/// Reads (kind, payload_len, message_id) back from a received message.
pub fn parse_header(msg: &[u8]) -> (u16, u32, u64) {
    assert!(msg.len() >= 32, "message of {} bytes", msg.len());
    assert_eq!(&msg[0..4], &0x4e49_5043u32.to_ne_bytes(), "outer magic");
    let kind = u16::from_ne_bytes([msg[8], msg[9]]);
    let payload_len = u32::from_ne_bytes(msg[16..20].try_into().unwrap());
    let id = u64::from_ne_bytes(msg[24..32].try_into().unwrap());
    (kind, payload_len, id)
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_ne_bytes();
        let n = (len - out.len()).min(8);
        out.extend_from_slice(&v[..n]);
    }
    out
}

/// The server's answer to a request payload: reversed, each byte + 1.
pub fn transform(req: &[u8]) -> Vec<u8> {
    req.iter().rev().map(|b| b.wrapping_add(1)).collect()
}

/// Fields of a region header for crafting files.
#[derive(Clone, Copy, Debug)]
pub struct Crafted {
    pub magic: u32,
    pub version: u16,
    pub header_len: u16,
    pub owner_pid: i32,
    pub owner_generation: u32,
    pub request_offset: u32,
    pub request_capacity: u32,
    pub response_offset: u32,
    pub response_capacity: u32,
    pub file_size: u64,
}

impl Default for Crafted {
    /// A valid region: 128-byte areas, owned by this process (our pid and
    /// the generation this implementation records for it).
    fn default() -> Self {
        let owner_pid = std::process::id() as i32;
        Crafted {
            magic: 0x4e53_484d,
            version: 3,
            header_len: 64,
            owner_pid,
            owner_generation: netipc::transport::shm::process_generation(owner_pid)
                .expect("/proc is mounted"),
            request_offset: 64,
            request_capacity: 128,
            response_offset: 192,
            response_capacity: 128,
            file_size: 320,
        }
    }
}

impl Crafted {
    /// Header bytes (first 64 bytes of the file).
    pub fn header(&self) -> [u8; 64] {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&self.magic.to_ne_bytes());
        h[4..6].copy_from_slice(&self.version.to_ne_bytes());
        h[6..8].copy_from_slice(&self.header_len.to_ne_bytes());
        h[8..12].copy_from_slice(&self.owner_pid.to_ne_bytes());
        h[12..16].copy_from_slice(&self.owner_generation.to_ne_bytes());
        h[16..20].copy_from_slice(&self.request_offset.to_ne_bytes());
        h[20..24].copy_from_slice(&self.request_capacity.to_ne_bytes());
        h[24..28].copy_from_slice(&self.response_offset.to_ne_bytes());
        h[28..32].copy_from_slice(&self.response_capacity.to_ne_bytes());
        h
    }

    /// Writes the crafted file (header, then zeros up to `file_size`; a file
    /// smaller than 64 bytes gets a truncated header).
    pub fn write(&self, path: &Path) -> PathBuf {
        let f = File::create(path).unwrap();
        f.set_len(self.file_size).unwrap();
        let h = self.header();
        let n = (self.file_size as usize).min(64);
        f.write_all_at(&h[..n], 0).unwrap();
        path.to_owned()
    }
}

/// Direct, unsynchronised access to a region file through `pwrite`/`pread`:
/// plays a misbehaving peer without mapping anything.
pub struct RawPeer(pub File);

impl RawPeer {
    pub fn open(path: &Path) -> Self {
        RawPeer(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap(),
        )
    }
    pub fn u32_at(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.0.read_exact_at(&mut b, off).unwrap();
        u32::from_ne_bytes(b)
    }
    pub fn u64_at(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.0.read_exact_at(&mut b, off).unwrap();
        u64::from_ne_bytes(b)
    }
    pub fn set_u32(&self, off: u64, v: u32) {
        self.0.write_all_at(&v.to_ne_bytes(), off).unwrap();
    }
    pub fn set_u64(&self, off: u64, v: u64) {
        self.0.write_all_at(&v.to_ne_bytes(), off).unwrap();
    }
    pub fn write(&self, off: u64, bytes: &[u8]) {
        self.0.write_all_at(bytes, off).unwrap();
    }
    /// Bumps a sequence word by `n` (non-atomically, as a hostile peer may).
    pub fn bump(&self, off: u64, n: u64) {
        let v = self.u64_at(off);
        self.set_u64(off, v.wrapping_add(n));
    }
}
