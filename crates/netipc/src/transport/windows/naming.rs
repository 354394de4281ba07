//! Kernel object names of an endpoint (PROTOCOL-WINDOWS.md §2).
//!
//! Nothing is created in the file system on Windows: the run directory is
//! only hashed (FNV-1a-64, byte for byte as given, no normalisation) into
//! the names of the pipe and of the shared-memory objects.

#![forbid(unsafe_code)]

use std::path::Path;

/// Longest service name whose pipe name stays below 256 characters.
pub const MAX_PIPE_SERVICE_NAME: usize = 222;

/// Longest service name whose shared-memory object names stay below 256
/// characters. Names between this and [`MAX_PIPE_SERVICE_NAME`] work over
/// the pipe only.
pub const MAX_SHM_SERVICE_NAME: usize = 193;

/// Object names are limited to this many characters (exclusive).
const NAME_LIMIT: usize = 256;

/// 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`; xor, then multiply, wrapping).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The bytes of a run directory that are hashed. The reference peers hash
/// the narrow string they were given; for the ASCII paths in practice that
/// is the UTF-8 form used here (a path that is not valid Unicode is hashed
/// with replacement characters).
pub(super) fn run_dir_bytes(run_dir: &Path) -> Vec<u8> {
    run_dir.to_string_lossy().into_owned().into_bytes()
}

/// `\\.\pipe\netipc-{FNV-1a-64(run_dir):016x}-{service}`. The service
/// name is not checked here: [`Endpoint::new`](crate::transport::Endpoint::new)
/// does that (the name rule, and at most [`MAX_PIPE_SERVICE_NAME`]
/// characters).
pub fn pipe_name(run_dir: &Path, service: &str) -> String {
    format!(
        r"\\.\pipe\netipc-{:016x}-{}",
        fnv1a64(&run_dir_bytes(run_dir)),
        service
    )
}

/// The shared-memory objects of one session (PROTOCOL-WINDOWS.md §2.3):
/// `Local\netipc-{K}-{service}-p{profile}-s{session:016x}-{suffix}`, with
/// `K = FNV-1a-64(run_dir + "\n" + service + "\n" + decimal token)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmNames {
    /// The section (`…-mapping`).
    pub mapping: String,
    /// Client → server "request published" event (`…-req_event`).
    pub req_event: String,
    /// Server → client "response published" event (`…-resp_event`).
    pub resp_event: String,
}

impl ShmNames {
    /// The names for `profile` (the raw bit, 2 or 4) and `session_id`, or
    /// `None` when a name would reach 256 characters (a service name longer
    /// than [`MAX_SHM_SERVICE_NAME`]).
    pub fn new(
        run_dir: &Path,
        service: &str,
        auth_token: u64,
        profile: u32,
        session_id: u64,
    ) -> Option<ShmNames> {
        let mut key = run_dir_bytes(run_dir);
        key.push(b'\n');
        key.extend_from_slice(service.as_bytes());
        key.push(b'\n');
        key.extend_from_slice(auth_token.to_string().as_bytes());
        let prefix = format!(
            r"Local\netipc-{:016x}-{}-p{}-s{:016x}",
            fnv1a64(&key),
            service,
            profile,
            session_id
        );
        let names = ShmNames {
            mapping: format!("{prefix}-mapping"),
            req_event: format!("{prefix}-req_event"),
            resp_event: format!("{prefix}-resp_event"),
        };
        let longest = names.resp_event.len().max(names.req_event.len());
        (longest < NAME_LIMIT).then(|| names)
    }
}
