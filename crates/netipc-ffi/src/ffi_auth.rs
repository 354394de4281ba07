//! Auth tokens: derived from the agent's invocation id, exactly as the Rust
//! side derives them, so C and Rust plugins of one agent agree.

use crate::adapter;
use crate::args;
use crate::result::{guard, netipc_result};

/// Derives the auth token from the environment, exactly as the agent and
/// the Rust side do: the invocation id is `NETDATA_INVOCATION_ID`, or
/// `INVOCATION_ID` when the first gives no UUID; the token is XXH3-64 of
/// the UUID's 16 bytes.
///
/// On success writes the token to `*token` and returns `NETIPC_OK`;
/// returns `NETIPC_ERR_NO_INVOCATION_ID` when neither variable holds a UUID
/// (the message says what was wrong with each) and
/// `NETIPC_ERR_INVALID_ARGUMENT` when `token` is NULL. Reads the process
/// environment: do not call it while another thread modifies the
/// environment (`setenv`).
#[no_mangle]
pub unsafe extern "C" fn netipc_auth_token_from_env(token: *mut u64) -> netipc_result {
    guard(|| {
        args::require(token, "token")?;
        let value = adapter::token_from_env()?;
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { args::put(token, value, "token") }
    })
}

/// Derives the auth token from an explicit invocation id (`id_len` bytes
/// at `id`, not NUL-terminated): a UUID, 32 hex digits of either case with
/// no hyphen or the 4 hyphens of the canonical form. The token is XXH3-64 of
/// its 16 bytes, so every spelling of one UUID gives the same token.
///
/// Writes the token to `*token`. Returns `NETIPC_ERR_INVALID_ARGUMENT` when
/// the text is not a UUID, `token` is NULL or `id` is NULL with a non-zero
/// length. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn netipc_auth_token_derive(
    id: *const u8,
    id_len: usize,
    token: *mut u64,
) -> netipc_result {
    guard(|| {
        // SAFETY: `id` points to `id_len` readable bytes per the contract.
        let id = unsafe { args::bytes(id, id_len, "id") }?;
        args::require(token, "token")?;
        let value = adapter::derive_token(id)?;
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { args::put(token, value, "token") }
    })
}
