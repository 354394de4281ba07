//! STRING_REVERSE (method code 3) payload.
