//! What an endpoint is, found out the way an operator would want: who owns
//! the listening process (`SO_PEERCRED`), what the handshake agrees on, and
//! which method the provider serves.
//!
//! The method is found by asking: a request with an empty payload is sent
//! for each method, the one the service name suggests first. No method
//! accepts an empty payload, so a provider that serves the method refuses
//! the request with BAD_ENVELOPE (or some status other than UNSUPPORTED),
//! and a provider of another method answers UNSUPPORTED. Nothing is
//! changed on the provider; its session ends when the probe disconnects.
//!
//! As the library's clients do, the probe sends the auth token only to a
//! provider running as our effective uid or as root.

use std::time::{Duration, Instant};

use netipc::service::{ConnectError, Endpoint, HandshakeError, Method, Status};
use netipc::transport::{self, ClientProposal, Limits, PeerCredentials, UdsChannel, UdsConn};
use netipc::wire::{Header, HelloAck, Profiles};

use crate::token::Token;

/// Every method of protocol version 1, in wire-code order.
pub const METHODS: [Method; 5] = [
    Method::Increment,
    Method::CgroupsSnapshot,
    Method::StringReverse,
    Method::CgroupsLookup,
    Method::AppsLookup,
];

/// The method's name as the protocol spells it.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Increment => "INCREMENT",
        Method::CgroupsSnapshot => "CGROUPS_SNAPSHOT",
        Method::StringReverse => "STRING_REVERSE",
        Method::CgroupsLookup => "CGROUPS_LOOKUP",
        Method::AppsLookup => "APPS_LOOKUP",
    }
}

/// The method a service name suggests (`cgroups-snapshot` →
/// CGROUPS_SNAPSHOT, …), tried first.
pub fn method_by_name(service: &str) -> Option<Method> {
    let s = service.to_ascii_lowercase();
    [
        ("cgroups-snapshot", Method::CgroupsSnapshot),
        ("cgroups-lookup", Method::CgroupsLookup),
        ("apps-lookup", Method::AppsLookup),
        ("increment", Method::Increment),
        ("string-reverse", Method::StringReverse),
    ]
    .into_iter()
    .find(|(name, _)| s.contains(name))
    .map(|(_, m)| m)
}

/// The process at the other end of a Unix socket (`SO_PEERCRED`): the one
/// that created the listening socket.
pub type Peer = PeerCredentials;

/// What the handshake and the method probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodServed {
    /// The provider serves this method.
    Served(Method),
    /// Every method was answered UNSUPPORTED.
    None,
    /// The provider stopped answering or closed the session while probed.
    Unknown(String),
}

/// The result of a probe of a live endpoint.
#[derive(Debug)]
pub struct Probe {
    /// The listening process, when the kernel reports it.
    pub peer: Option<Peer>,
    /// The handshake's result; `None` when no token was available to try.
    pub handshake: Option<Result<HelloAck, HandshakeError>>,
    /// The method served, when the handshake succeeded.
    pub method: Option<MethodServed>,
    /// Time of the connect and HELLO/HELLO_ACK exchange.
    pub handshake_time: Duration,
    /// The provider runs as another user (not ours, not root), so the
    /// token was not sent and no handshake was tried.
    pub untrusted: bool,
}

/// The peer credentials of a connected Unix socket, when the kernel
/// reports them.
pub fn peer_of(conn: &UdsConn) -> Option<Peer> {
    PeerCredentials::of(conn).ok()
}

/// Connects to `endpoint` over UDS, reads the peer's credentials, runs the
/// handshake with `token` (if any) and probes the method served. Every
/// wait is bounded by `timeout`.
///
/// # Errors
///
/// Only when connecting fails (`NotFound` for a stale socket or none).
pub fn probe(
    endpoint: &Endpoint,
    token: Option<&Token>,
    timeout: Duration,
) -> Result<Probe, ConnectError> {
    let started = Instant::now();
    let conn = transport::connect_timeout(endpoint, timeout)?;
    let peer = peer_of(&conn);
    // Like the library's clients: the token goes only to a provider running
    // as our user or root.
    let own_uid = rustix::process::geteuid().as_raw();
    if peer.is_some_and(|p| !p.trusted_by(own_uid)) {
        return Ok(Probe {
            peer,
            handshake: None,
            method: None,
            handshake_time: started.elapsed(),
            untrusted: true,
        });
    }
    let Some(token) = token else {
        return Ok(Probe {
            peer,
            handshake: None,
            method: None,
            handshake_time: started.elapsed(),
            untrusted: false,
        });
    };
    let proposal = ClientProposal {
        supported: Profiles::BASELINE,
        preferred: Profiles::BASELINE,
        auth_token: token.auth(),
        ..ClientProposal::default()
    };
    let ack = match transport::client_handshake(&conn, &proposal, timeout) {
        Ok(ack) => ack,
        Err(e) => {
            return Ok(Probe {
                peer,
                handshake: Some(Err(e)),
                method: None,
                handshake_time: started.elapsed(),
                untrusted: false,
            })
        }
    };
    let handshake_time = started.elapsed();
    let method = probe_method(conn, &ack, endpoint.service(), timeout);
    Ok(Probe {
        peer,
        handshake: Some(Ok(ack)),
        method: Some(method),
        handshake_time,
        untrusted: false,
    })
}

/// Sends an empty request per method (the one the name suggests first)
/// until one is not answered UNSUPPORTED.
fn probe_method(conn: UdsConn, ack: &HelloAck, service: &str, timeout: Duration) -> MethodServed {
    let mut chan = match UdsChannel::new(conn, Limits::for_client(ack)) {
        Ok(c) => c,
        Err(e) => return MethodServed::Unknown(e.to_string()),
    };
    let first = method_by_name(service);
    let order = first
        .into_iter()
        .chain(METHODS.into_iter().filter(|m| Some(*m) != first));
    for (id, method) in (1u64..).zip(order) {
        let request = Header::request(method, 0, id);
        if let Err(e) = chan.send_request(&request, &[]) {
            return MethodServed::Unknown(format!("the provider closed the session ({e})"));
        }
        match chan.recv_response(Some(timeout)) {
            Ok((h, _)) if h.status() == Ok(Status::Unsupported) => continue,
            Ok(_) => return MethodServed::Served(method),
            Err(e) => {
                return MethodServed::Unknown(format!(
                    "no answer to a {} probe ({e})",
                    method_name(method)
                ))
            }
        }
    }
    MethodServed::None
}

/// The profiles in a set, by name: `["UDS_SEQPACKET", "SHM_HYBRID"]`
/// (unknown bits as one hex number); empty for none.
pub fn profile_names(p: Profiles) -> Vec<String> {
    if p.is_empty() {
        return Vec::new();
    }
    p.to_string().split('|').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_suggest_methods() {
        assert_eq!(
            method_by_name("cgroups-snapshot"),
            Some(Method::CgroupsSnapshot)
        );
        assert_eq!(method_by_name("test-increment"), Some(Method::Increment));
        assert_eq!(
            method_by_name("cgroups-lookup"),
            Some(Method::CgroupsLookup)
        );
        assert_eq!(method_by_name("mine"), None);
        for m in METHODS {
            assert_eq!(Method::try_from(m.code()), Ok(m));
            assert!(!method_name(m).is_empty());
        }
    }

    #[test]
    fn profiles_by_name() {
        assert_eq!(profile_names(Profiles::BASELINE), ["UDS_SEQPACKET"]);
        let both = Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);
        assert_eq!(profile_names(both), ["UDS_SEQPACKET", "SHM_HYBRID"]);
    }
}
