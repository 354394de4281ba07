//! What the sessions of every platform share above their data planes: the
//! spin-then-block receive on a channel, the rules for a message read from
//! shared memory, and the client's limits and shared-memory response
//! checks. Each platform's session (`transport::session` on Unix,
//! `transport::windows::session` on Windows) keeps its own connection
//! set-up, region type and error mapping around these.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::channel::Channel;
use super::limits::Limits;
use super::packet::PacketConn;
use crate::transport::connect_error::ConnectError;
use crate::transport::error::TransportError;
use crate::transport::session_error::SessionError;
use crate::transport::wait::Waiter;
use crate::wire::{BatchView, Header, HelloAck, Kind, HEADER_LEN};

/// One receive on a channel data plane: polls without blocking for the
/// waiter's window first (an answer that comes within it costs no sleep and
/// no wake-up on either side), then blocks for the first packet within
/// `slice`; once it has arrived, the rest of a chunked message may take up
/// to `rest`. `response` matches a response to the requests in flight.
/// [`TransportError::Timeout`]: nothing arrived within `slice`.
pub(crate) fn recv_on_channel<C: PacketConn>(
    chan: &mut Channel<C>,
    waiter: &mut Waiter,
    slice: Duration,
    rest: Duration,
    response: bool,
) -> Result<Header, TransportError> {
    let try_recv = |chan: &mut Channel<C>| {
        let got = if response {
            chan.try_recv_response(Some(rest))
        } else {
            chan.try_recv(Some(rest))
        };
        got.map(|m| m.map(|(h, _)| h)).transpose()
    };
    match waiter.spin(|| try_recv(chan)) {
        Some(result) => result,
        None => {
            let blocked = if response {
                chan.recv_response_split(Some(slice), Some(rest))
            } else {
                chan.recv_split(Some(slice), Some(rest))
            };
            waiter.finish_wait();
            blocked.map(|(h, _)| h)
        }
    }
}

/// Validates a message read from shared memory: envelope, declared length,
/// negotiated limits and the batch directory — the rules a channel applies
/// to the messages it receives.
pub(crate) fn check_shm_message(msg: &[u8], limits: &Limits) -> Result<Header, SessionError> {
    let header = Header::decode(msg)?;
    if header.payload_len as usize != msg.len() - HEADER_LEN {
        return Err(SessionError::BadMessage(
            "payload_len differs from the published length",
        ));
    }
    if header.payload_len > limits.max_recv_payload {
        return Err(SessionError::BadMessage(
            "payload exceeds the negotiated limit",
        ));
    }
    if header.item_count > limits.max_recv_items {
        return Err(SessionError::BadMessage(
            "item_count exceeds the negotiated batch limit",
        ));
    }
    if header.is_batch() {
        BatchView::new(&msg[HEADER_LEN..], header.item_count)?;
    }
    Ok(header)
}

/// The refusal of a send larger than the negotiated limit, checked before
/// either data plane is touched.
pub(crate) fn check_send_size(payload: &[u8], limits: &Limits) -> Result<(), SessionError> {
    if payload.len() > limits.max_send_payload as usize {
        return Err(SessionError::RequestTooLarge {
            len: payload.len(),
            limit: limits.max_send_payload,
        });
    }
    Ok(())
}

/// A shared-memory publication refused as too large (`len`: the whole
/// message), reported as the session's [`SessionError::RequestTooLarge`].
pub(crate) fn shm_too_large(len: usize, limits: &Limits) -> SessionError {
    SessionError::RequestTooLarge {
        len: len.saturating_sub(HEADER_LEN),
        limit: limits.max_send_payload,
    }
}

/// The client's limits for an accepted HELLO_ACK, the response limit
/// capped at `response_cap`.
pub(crate) fn client_limits(ack: &HelloAck, response_cap: u32) -> Limits {
    let mut limits = Limits::for_client(ack);
    limits.max_recv_payload = limits.max_recv_payload.min(response_cap);
    limits
}

/// A client refuses a shared-memory session whose responses may exceed its
/// response cap (its receive buffer for one publication is bounded by it).
pub(crate) fn check_shm_response_cap(
    ack: &HelloAck,
    response_cap: u32,
) -> Result<(), ConnectError> {
    if ack.agreed_max_response_payload_bytes > response_cap {
        return Err(ConnectError::ShmResponseOverCap {
            limit: ack.agreed_max_response_payload_bytes,
            cap: response_cap,
        });
    }
    Ok(())
}

/// A message a client read from shared memory, which carries one request at
/// a time: it must be a RESPONSE to the request `pending` (taken).
pub(crate) fn check_shm_response(
    header: &Header,
    pending: &mut Option<u64>,
) -> Result<(), SessionError> {
    if header.kind != Kind::Response {
        return Err(SessionError::Unexpected("a client received a non-response"));
    }
    if pending.take() != Some(header.message_id) {
        return Err(SessionError::Unexpected(
            "response message_id does not match the request",
        ));
    }
    Ok(())
}
