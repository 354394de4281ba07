//! The C ABI of netipc: `libnetipc.so` / `libnetipc.a` and the header
//! `include/netipc.h` (generated from this crate by cbindgen).
//!
//! Layout of the crate:
//!
//! * [`adapter`] holds every use of the Rust library `netipc`: clients,
//!   servers, the snapshot table and the mapping of its errors to C result
//!   codes. When the Rust API changes, only this module changes.
//! * [`result`] defines the result codes, the per-thread error message and
//!   the guard that keeps panics from crossing the C boundary.
//! * [`args`] turns C arguments (pointer + length, handles, out-pointers)
//!   into Rust values after checking them for NULL.
//! * The `ffi_*` modules are the exported functions, one module per group
//!   of the header.
//!
//! Conventions every exported function follows (they are repeated in the
//! header's preamble): opaque handles only, strings as `(const uint8_t *,
//! size_t)`, every pointer checked for NULL, a `netipc_result` code for
//! anything that can fail, and no panic ever unwinds into C.

// The exported names follow C conventions (`netipc_client`, `NETIPC_OK`).
#![allow(non_camel_case_types)]
// The safety contract of every exported function is the same (valid
// handles, `len` readable bytes behind a non-NULL pointer, out-pointers
// writable) and is stated once, in the header preamble (cbindgen.toml)
// and in `docs/c-api.md`, rather than repeated on each function.
#![allow(clippy::missing_safety_doc)]
// C functions return several values through out-pointers.
#![allow(clippy::too_many_arguments)]

pub(crate) mod adapter;
pub(crate) mod args;
pub mod ffi_auth;
pub mod ffi_cache;
pub mod ffi_cgroups;
pub mod ffi_client;
pub mod ffi_client_status;
pub mod ffi_lookup;
pub mod ffi_lookup_server;
pub mod ffi_server;
pub mod ffi_server_lifecycle;
pub mod result;
