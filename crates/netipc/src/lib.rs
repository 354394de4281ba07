//! netipc — fast, safe local inter-process communication for the plugins of a
//! monitoring agent (protocol version 1).
//!
//! The crate is layered; each layer depends only on the ones below it:
//!
//! | module | layer | what it does |
//! |---|---|---|
//! | [`wire`] | envelope | 32-byte outer header, chunk header, batch directory, HELLO / HELLO_ACK |
//! | [`codec`] | payloads | INCREMENT, STRING_REVERSE, CGROUPS_SNAPSHOT encode/decode |
//! | [`transport`] | Level 1 | UDS SEQPACKET sessions, handshake, chunking, shared memory |
//! | [`service`] | Level 2 | typed clients with refresh/ready/status and a managed server |
//! | [`cache`] | Level 3 | the cgroups snapshot cache with O(1) lookup |
//! | [`auth`] | helper | auth token derivation shared with C and Go peers |
//!
//! `wire` and `codec` are pure: they do no I/O and their decoders never
//! allocate and never panic, whatever bytes they are given.

pub mod auth;
pub mod cache;
pub mod codec;
pub mod service;
pub mod transport;
pub mod wire;
