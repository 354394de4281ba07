//! Method payload codecs (PROTOCOL.md §9): pure bytes, no I/O.

pub mod cgroups;
pub mod increment;
pub mod string_reverse;
