//! Checked conversions of C arguments. Every pointer an exported function
//! receives goes through one of these, so the NULL checks live in one place.

use crate::result::Failure;

/// `len` bytes at `ptr` as a slice. `(NULL, 0)` is the empty string;
/// NULL with a non-zero length is an invalid argument.
///
/// # Safety
///
/// When `ptr` is not NULL it must point to `len` readable bytes that stay
/// unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::invalid(format!(
                "{what} is NULL with length {len}"
            )))
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what} length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, at most isize::MAX bytes, readable per the caller's
    // contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `len` bytes at `ptr` as UTF-8 text.
///
/// # Safety
///
/// As for [`bytes`].
pub(crate) unsafe fn text<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(ptr, len, what) }?;
    std::str::from_utf8(raw).map_err(|e| Failure::invalid(format!("{what} is not UTF-8: {e}")))
}

/// A shared reference to the object behind a handle.
///
/// # Safety
///
/// When `ptr` is not NULL it must be a live handle of type `T` created by
/// this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: a non-NULL handle is valid per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A mutable reference to the object behind a handle.
///
/// # Safety
///
/// As for [`handle`], and no other reference to it may be live.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: a non-NULL handle is valid and unaliased per the contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// Writes `value` through a required out-pointer.
///
/// # Safety
///
/// When `out` is not NULL it must be writable.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Writes `value` through an optional out-pointer (NULL = not wanted).
///
/// # Safety
///
/// When `out` is not NULL it must be writable.
pub(crate) unsafe fn put_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable per the caller's contract.
        unsafe { out.write(value) };
    }
}

/// Checks that a required out-pointer is not NULL before any work is done.
pub(crate) fn require<T>(out: *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::invalid(format!("{what} is NULL")))
    } else {
        Ok(())
    }
}

/// Moves `value` to the heap and hands C the pointer.
///
/// # Safety
///
/// `out` must be writable when not NULL (checked).
pub(crate) unsafe fn put_box<T>(out: *mut *mut T, value: T, what: &str) -> Result<(), Failure> {
    require(out, what)?;
    // SAFETY: checked non-NULL; writable per contract.
    unsafe { out.write(Box::into_raw(Box::new(value))) };
    Ok(())
}

/// Frees a handle created by [`put_box`]. NULL is ignored.
///
/// # Safety
///
/// `ptr` must be NULL or a handle of type `T` from [`put_box`] that is not
/// used afterwards.
pub(crate) unsafe fn free_box<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: created by Box::into_raw and given back exactly once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Milliseconds from C as a duration; 0 is rejected (it would make every
/// wait fail at once).
pub(crate) fn millis(ms: u32, what: &str) -> Result<std::time::Duration, Failure> {
    if ms == 0 {
        return Err(Failure::invalid(format!("{what} must be at least 1 ms")));
    }
    Ok(std::time::Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_rules() {
        // SAFETY: NULL pointers are what is being tested; nothing is read.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "s").unwrap(), b"");
            assert!(bytes(std::ptr::null(), 1, "s").is_err());
            assert!(handle::<u8>(std::ptr::null(), "h").is_err());
            assert!(put::<u8>(std::ptr::null_mut(), 1, "o").is_err());
        }
        assert!(millis(0, "t").is_err());
    }
}
