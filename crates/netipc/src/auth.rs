//! Auth token derivation.
