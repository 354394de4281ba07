//! INCREMENT (method code 1) payload.
