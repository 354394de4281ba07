//! The per-session shared-memory region: layout, create, attach, publish, consume.
