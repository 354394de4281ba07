//! Level 1: endpoints, the handshake, UDS SEQPACKET sessions and the Linux
//! shared-memory data plane.

pub mod endpoint;
pub mod handshake;
pub mod shm;
pub mod uds;
pub mod wait;
