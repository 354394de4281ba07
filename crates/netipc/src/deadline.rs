//! The one deadline type of the crate: a timeout turned into a point in
//! time when a wait starts, so loops that wake up early (EINTR, spurious
//! futex wake-ups, retries) carry on with the time that is left.

// Some accessors serve only the Unix transports.
#![cfg_attr(not(unix), allow(dead_code))]

use std::time::{Duration, Instant};

/// A timeout and the instant it expires, fixed when the wait starts.
///
/// `None` as a timeout means "wait forever". A timeout too large to be
/// represented as an instant counts as forever too, rather than panicking.
///
/// Nominally `pub` (its module is private) so that the crate's packet
/// connection trait can name it in its signatures.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The timeout as given; `None` when waiting forever.
    timeout: Option<Duration>,
    /// `start + timeout`; `None` when waiting forever.
    at: Option<Instant>,
}

impl Deadline {
    /// Starts the clock for `timeout` (`None`: forever). The clock is read
    /// only when there is a timeout.
    pub(crate) fn new(timeout: Option<Duration>) -> Deadline {
        let at = timeout.and_then(|t| Instant::now().checked_add(t));
        Deadline {
            timeout: if at.is_some() { timeout } else { None },
            at,
        }
    }

    /// A deadline `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline::new(Some(timeout))
    }

    /// A deadline at `at` (already expired when `at` has passed).
    pub(crate) fn at(at: Instant) -> Deadline {
        Deadline {
            timeout: Some(at.saturating_duration_since(Instant::now())),
            at: Some(at),
        }
    }

    /// The instant this deadline expires; `None` when waiting forever.
    pub(crate) fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// The earlier of this deadline and `other` (`None`: no other bound).
    /// The result's timeout is its time left from now.
    pub(crate) fn min_at(self, other: Option<Instant>) -> Deadline {
        match (self.at, other) {
            (_, None) => self,
            (Some(mine), Some(theirs)) if mine <= theirs => self,
            (_, Some(theirs)) => Deadline::at(theirs),
        }
    }

    /// The timeout this deadline was started with; `None` when waiting
    /// forever.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Time left: `None` when waiting forever, `Some(ZERO)` once expired.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// True once the deadline has passed (never when waiting forever).
    pub(crate) fn expired(&self) -> bool {
        self.remaining().map_or(false, |left| left.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forever_never_expires() {
        let d = Deadline::new(None);
        assert_eq!(d.timeout(), None);
        assert_eq!(d.remaining(), None);
        assert!(!d.expired());
    }

    #[test]
    fn unrepresentable_timeout_is_forever() {
        let d = Deadline::after(Duration::MAX);
        assert_eq!(d.timeout(), None);
        assert_eq!(d.remaining(), None);
        assert!(!d.expired());
    }

    #[test]
    fn zero_timeout_is_expired_at_once() {
        let d = Deadline::after(Duration::ZERO);
        assert_eq!(d.timeout(), Some(Duration::ZERO));
        assert_eq!(d.remaining(), Some(Duration::ZERO));
        assert!(d.expired());
    }

    #[test]
    fn min_at_picks_the_earlier_instant() {
        let now = Instant::now();
        let soon = now + Duration::from_secs(1);
        let late = now + Duration::from_secs(3600);
        let d = Deadline::at(late).min_at(Some(soon));
        assert_eq!(d.instant(), Some(soon));
        let d = Deadline::at(soon).min_at(Some(late));
        assert_eq!(d.instant(), Some(soon));
        let d = Deadline::new(None).min_at(Some(soon));
        assert_eq!(d.instant(), Some(soon));
        assert!(d.timeout().unwrap() <= Duration::from_secs(1));
        assert_eq!(Deadline::new(None).min_at(None).instant(), None);
        assert!(Deadline::at(now).expired());
    }

    #[test]
    fn remaining_never_exceeds_the_timeout() {
        let t = Duration::from_secs(3600);
        let d = Deadline::after(t);
        assert_eq!(d.timeout(), Some(t));
        let left = d.remaining().unwrap();
        assert!(left <= t && !left.is_zero());
        assert!(!d.expired());
    }
}
