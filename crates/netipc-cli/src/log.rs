//! How much the tool says on stderr besides errors: `-q` silences notes and
//! the session log of `serve`, `-v` adds detail.
//!
//! Set once from the command line ([`set`]); read anywhere. Every line
//! starts with `netipc: `, like the errors.

use std::sync::atomic::{AtomicU8, Ordering};

/// `-q`: errors only.
pub const QUIET: u8 = 0;
/// The default: errors and notes.
pub const NORMAL: u8 = 1;
/// `-v`: errors, notes and detail.
pub const VERBOSE: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(NORMAL);

/// Sets the level from `-q` and the number of `-v`.
pub fn set(quiet: bool, verbose: u8) {
    let level = if quiet {
        QUIET
    } else if verbose > 0 {
        VERBOSE
    } else {
        NORMAL
    };
    LEVEL.store(level, Ordering::Relaxed);
}

/// The current level.
pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// Prints `netipc: <text>` on stderr unless `-q` was given.
pub fn note(text: &str) {
    if level() >= NORMAL {
        eprintln!("netipc: {text}");
    }
}

/// Prints `netipc: <text>` on stderr only under `-v`.
pub fn detail(text: &str) {
    if level() >= VERBOSE {
        eprintln!("netipc: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        set(true, 0);
        assert_eq!(level(), QUIET);
        set(false, 2);
        assert_eq!(level(), VERBOSE);
        set(false, 0);
        assert_eq!(level(), NORMAL);
    }
}
