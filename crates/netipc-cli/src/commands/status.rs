//! `netipc status`: who serves an endpoint, which method, what a handshake
//! agrees on, and one timed round trip of that method.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use netipc::codec::cgroups::SnapshotRequest;
use netipc::codec::increment as increment_codec;
use netipc::service::{ConnectError, Method};
use netipc::transport::{ClientProposal, ClientSession, SessionConfig};
use netipc::wire::{Header, HelloAck, Profiles};
use serde_json::{json, Value};

use super::{output, prepare, print_json};
use crate::cli::StatusArgs;
use crate::endpoint::{connect_failed, CGROUPS_SERVICE};
use crate::exit::{describe, CliError, Exit};
use crate::format;
use crate::probe::{self, method_name, profile_names, MethodServed, Peer};

/// Default longest wait of `status` for each step.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `netipc status`.
///
/// First a probe connection over UDS: the listening process's pid and uid
/// (`SO_PEERCRED`) and the method served (see [`crate::probe`]). Then a
/// session with the profiles asked for (`--shm` offers shared memory): the
/// negotiated profile and limits, and one timed request of the method
/// served — a real INCREMENT or CGROUPS_SNAPSHOT request, for the other
/// methods the empty probe request.
///
/// # Errors
///
/// As for the other client commands; exit 7 when the provider does not
/// answer in time.
pub fn run(args: &StatusArgs) -> Result<(), CliError> {
    let service = args.service.name_or(CGROUPS_SERVICE);
    let (token, endpoint) = prepare(&args.common, service)?;
    let timeout = args.common.timeout.unwrap_or(DEFAULT_TIMEOUT);

    let found = probe::probe(&endpoint, Some(&token), timeout)
        .map_err(|e| connect_failed(&e, &endpoint, &token))?;
    if found.untrusted {
        return Err(CliError::failure(format!(
            "the process at {endpoint} ({}) runs as another user (not ours, not root); our auth token was not sent",
            peer_text(found.peer)
        )));
    }
    if let Some(Err(e)) = found.handshake {
        return Err(connect_failed(
            &ConnectError::Handshake(e),
            &endpoint,
            &token,
        ));
    }
    let method = match &found.method {
        Some(MethodServed::Served(m)) => Some(*m),
        Some(MethodServed::Unknown(why)) => {
            return Err(CliError::new(
                Exit::TimedOut,
                format!("provider at {endpoint} accepted the handshake but then {why}"),
            ))
        }
        _ => None,
    };

    let offered = if args.shm {
        Profiles::BASELINE | Profiles::SHM_HYBRID
    } else {
        Profiles::BASELINE
    };
    let config = SessionConfig::new(ClientProposal {
        supported: offered,
        preferred: offered.highest(),
        auth_token: token.auth(),
        ..ClientProposal::default()
    })
    .with_handshake_timeout(timeout)
    .with_response_timeout(timeout)
    .with_shm_attach_timeout(timeout);
    let started = Instant::now();
    let mut session = ClientSession::connect(&endpoint, &config)
        .map_err(|e| connect_failed(&e, &endpoint, &token))?;
    let connected = started.elapsed();
    let ack = *session.negotiated();

    let (payload, what): (Vec<u8>, &str) = match method {
        Some(Method::Increment) => (increment_codec::encode(1).to_vec(), "one INCREMENT request"),
        Some(Method::CgroupsSnapshot) => (
            SnapshotRequest.encode().to_vec(),
            "one CGROUPS_SNAPSHOT request",
        ),
        Some(_) => (Vec::new(), "one empty probe request"),
        None => (Vec::new(), "one empty INCREMENT request"),
    };
    let request = Header::request(method.unwrap_or(Method::Increment), payload.len() as u32, 1);
    let started = Instant::now();
    let response = session.call(&request, &payload).map_err(|e| {
        CliError::failure(format!("round trip to {endpoint} failed: {}", describe(&e)))
    })?;
    let round_trip = started.elapsed();
    let answered = match response.status() {
        Ok(s) => s.to_string(),
        Err(_) => format!("unknown status {}", response.transport_status),
    };
    let response_bytes = session.payload().len();
    let method_text = match method {
        Some(m) => method_name(m).to_string(),
        None => "none (every method answered UNSUPPORTED)".to_string(),
    };

    if args.json {
        return print_json(&json!({
            "service": endpoint.service(),
            "endpoint": endpoint.to_string(),
            "peer": peer_json(found.peer),
            "method": method.map(method_name),
            "session_id": ack.session_id,
            "profile": ack.selected_profile.to_string(),
            "offered": profile_names(offered),
            "server_profiles": profile_names(ack.server_supported_profiles),
            "limits": limits_json(&ack),
            "handshake_ns": nanos(connected),
            "shm_attached": session.is_shm(),
            "round_trip_ns": nanos(round_trip),
            "answered": answered,
            "response_bytes": response_bytes,
        }));
    }
    let items = |n: u32| format!("{n} {}", format::plural(n as usize, "item", "items"));
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(writeln!(
        out,
        "endpoint        {}\n\
         served by       {}\n\
         method          {method_text}\n\
         session id      {}\n\
         profile         {} (offered {}, server supports {})\n\
         request limit   {} bytes, {} per batch\n\
         response limit  {} bytes, {} per batch\n\
         packet size     {} bytes\n\
         handshake       {} (connect + HELLO/HELLO_ACK{})\n\
         round trip      {} ({what}, answered {answered}, {} response bytes)",
        endpoint,
        peer_text(found.peer),
        ack.session_id,
        ack.selected_profile,
        offered,
        ack.server_supported_profiles,
        ack.agreed_max_request_payload_bytes,
        items(ack.agreed_max_request_batch_items),
        ack.agreed_max_response_payload_bytes,
        items(ack.agreed_max_response_batch_items),
        ack.agreed_packet_size,
        format::duration(connected),
        if session.is_shm() {
            " + shared-memory attach"
        } else {
            ""
        },
        format::duration(round_trip),
        response_bytes,
    ))
}

/// `pid 1234, uid 0, gid 0` or `unknown`.
pub(crate) fn peer_text(peer: Option<Peer>) -> String {
    match peer {
        Some(p) => format!("pid {}, uid {}, gid {}", p.pid, p.uid, p.gid),
        None => "unknown".to_string(),
    }
}

/// `{"pid":…,"uid":…,"gid":…}` or `null`.
pub(crate) fn peer_json(peer: Option<Peer>) -> Value {
    match peer {
        Some(p) => json!({"pid": p.pid, "uid": p.uid, "gid": p.gid}),
        None => Value::Null,
    }
}

/// The agreed limits as JSON.
pub(crate) fn limits_json(ack: &HelloAck) -> Value {
    json!({
        "max_request_payload": ack.agreed_max_request_payload_bytes,
        "max_request_batch_items": ack.agreed_max_request_batch_items,
        "max_response_payload": ack.agreed_max_response_payload_bytes,
        "max_response_batch_items": ack.agreed_max_response_batch_items,
        "packet_size": ack.agreed_packet_size,
    })
}

/// A duration in whole nanoseconds.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
