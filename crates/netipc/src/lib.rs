//! netipc — fast, safe local inter-process communication for the plugins of a
//! monitoring agent (protocol version 1).
//!
//! The crate is layered; each layer depends only on the ones below it:
//!
//! | module | layer | what it does |
//! |---|---|---|
//! | [`wire`] | envelope | 32-byte outer header, chunk header, batch directory, HELLO / HELLO_ACK |
//! | [`codec`] | payloads | INCREMENT, STRING_REVERSE, CGROUPS_SNAPSHOT encode/decode |
//! | `transport` | Level 1 | sessions over UDS SEQPACKET or named pipes, handshake, chunking, shared memory (public only with the `level1` feature) |
//! | [`service`] | Level 2 | typed clients with refresh/ready/status and a managed server |
//! | [`cache`] | Level 3 | the cgroups snapshot cache with O(1) lookup |
//! | [`auth`] | helper | auth token derivation shared with C and Go peers |
//!
//! `wire` and `codec` are pure: they do no I/O and their decoders never
//! allocate and never panic, whatever bytes they are given. `unsafe` code
//! is denied crate-wide and allowed only in the private shared-memory
//! mapping module of `transport::shm` and, on Windows, in
//! `transport::windows`.
//!
//! The same API builds on Unix and on Windows: on Windows Level 1 is the
//! named-pipe baseline and Windows shared memory (`transport::windows`),
//! behind the same `Endpoint` and session types, and Levels 2 and 3 run
//! over it unchanged (docs/windows.md).
//!
//! # Example
//!
//! A provider and a consumer of the INCREMENT test service in one process
//! (normally they are two plugins):
//!
//! ```
//! use netipc::auth::AuthToken;
//! use netipc::service::increment::{self, IncrementClient};
//! use netipc::service::{ClientConfig, Endpoint, ManagedServer, ServerConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let run_dir = std::env::temp_dir().join(format!("netipc-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&run_dir)?;
//! let token = AuthToken::new(0x1234); // normally netipc::auth::token_from_env()?
//! // The run directory and service name, validated once.
//! let endpoint = Endpoint::new(&run_dir, "increment")?;
//!
//! // Provider: one method per endpoint, a worker thread per session.
//! let server = ManagedServer::start(endpoint.clone(), ServerConfig::new(token),
//!     increment::handler(|v| Ok(v.wrapping_add(1))))?;
//!
//! // Consumer: creating the client does no I/O; refresh() connects.
//! let mut client = IncrementClient::new(endpoint, ClientConfig::new(token));
//! client.refresh();
//! assert!(client.ready());
//! assert_eq!(client.call(41)?, 42);
//! assert_eq!(client.call_batch(&[1, 2, 3])?, vec![2, 3, 4]);
//!
//! server.shutdown(); // removes the socket and any shared-memory files
//! std::fs::remove_dir(&run_dir)?;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

pub mod auth;
mod bytes;
#[cfg(any(unix, windows))]
pub mod cache;
pub mod codec;
mod deadline;
#[cfg(any(unix, windows))]
pub mod service;
#[cfg(feature = "level1")]
pub mod transport;
// Without `level1` the transport is an implementation detail: what Level 2
// users meet of it is re-exported from `service`.
#[cfg(not(feature = "level1"))]
#[allow(dead_code, unused_imports)]
mod transport;
pub mod wire;

// The Rust snippets of the README and of the API pages of docs/ are
// compiled (and, unless marked `no_run`, run) as doctests, so they cannot
// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/service.md")]
struct ServiceDocDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/cache.md")]
struct CacheDocDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/transport.md")]
struct TransportDocDoctests;
