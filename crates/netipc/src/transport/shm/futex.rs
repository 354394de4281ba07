//! Shared futex wait/wake on a word in a mapping shared between processes.
