//! What a managed server tells its owner about sessions: accepted, refused
//! and why, turned away, ended. An optional callback on
//! [`ServerConfig`](super::ServerConfig), meant for logs.

use std::fmt;
use std::sync::Arc;

use crate::transport::HandshakeError;
use crate::wire::Profiles;

/// One thing that happened to a session of a managed server.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionEvent<'a> {
    /// The handshake succeeded and the session is served.
    Accepted {
        /// The session's id.
        session_id: u64,
        /// The profile the handshake selected.
        profile: Profiles,
    },
    /// The handshake failed or was rejected (for example a wrong auth
    /// token); the connection was closed.
    Refused {
        /// The id the session would have had.
        session_id: u64,
        /// Why.
        error: &'a HandshakeError,
    },
    /// The handshake succeeded but the server was at its session limit; the
    /// connection was closed.
    TurnedAway {
        /// The session's id.
        session_id: u64,
    },
    /// A served session ended (the client left, a send failed, or the
    /// server is stopping).
    Ended {
        /// The session's id.
        session_id: u64,
        /// Requests answered in the session.
        requests: u64,
    },
}

/// A callback that receives every [`SessionEvent`] of a managed server.
/// It runs on the server's threads, so it should return quickly.
///
/// Two observers are equal when they are the same callback.
#[derive(Clone)]
pub struct SessionObserver(Arc<dyn Fn(&SessionEvent<'_>) + Send + Sync>);

impl SessionObserver {
    /// Wraps a callback.
    pub fn new(f: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        SessionObserver(Arc::new(f))
    }

    /// Reports an event.
    pub(crate) fn report(&self, event: &SessionEvent<'_>) {
        (self.0)(event);
    }
}

impl fmt::Debug for SessionObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionObserver")
    }
}

impl PartialEq for SessionObserver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SessionObserver {}
