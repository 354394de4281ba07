//! The envelope of protocol v1 (PROTOCOL.md §2–§5): pure bytes, no I/O.
