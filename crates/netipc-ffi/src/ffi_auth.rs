//! Auth tokens: derived from the agent's invocation id, exactly as the Rust
//! side derives them, so C and Rust plugins of one agent agree.

use crate::adapter;
use crate::args;
use crate::result::{guard, netipc_result};

/// Derives the auth token from the environment: `NETDATA_INVOCATION_ID`,
/// else `INVOCATION_ID` (an empty value counts as unset), hashed by the
/// same rule as `netipc_auth_token_derive()`.
///
/// On success writes the token to `*token` and returns `NETIPC_OK`;
/// returns `NETIPC_ERR_NO_INVOCATION_ID` when neither variable has a value
/// and `NETIPC_ERR_INVALID_ARGUMENT` when `token` is NULL. Reads the process
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

/// Derives the auth token from an explicit invocation id (`id_len` bytes at
/// `id`, not NUL-terminated): a UUID in any of its spellings is hashed as
/// its 16 bytes, anything else as the bytes given.
///
/// Writes the token to `*token`. Returns `NETIPC_ERR_INVALID_ARGUMENT` when
/// `token` is NULL or `id` is NULL with a non-zero length. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn netipc_auth_token_derive(
    id: *const u8,
    id_len: usize,
    token: *mut u64,
) -> netipc_result {
    guard(|| {
        // SAFETY: `id` points to `id_len` readable bytes per the contract.
        let id = unsafe { args::bytes(id, id_len, "id") }?;
        // SAFETY: writable when non-NULL (checked inside).
        unsafe { args::put(token, adapter::derive_token(id), "token") }
    })
}
