//! Negotiated limits and in-flight ids of a session, seen from one side
//! (PROTOCOL.md §6.5, §6.6): the same on every transport.

#![forbid(unsafe_code)]

use crate::transport::error::TransportError;
use crate::wire::HelloAck;

/// The negotiated limits of one session, seen from one side.
///
/// Payload limits count payload bytes only (the 32-byte header excluded);
/// for a batch they cover directory, padding and items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest payload this side may send (refused locally above it).
    pub max_send_payload: u32,
    /// Largest item count this side may send.
    pub max_send_items: u32,
    /// Largest payload this side accepts.
    pub max_recv_payload: u32,
    /// Largest item count this side accepts.
    pub max_recv_items: u32,
    /// Agreed packet size; must exceed 32.
    pub packet_size: u32,
}

impl Limits {
    /// The client's view of an accepted HELLO_ACK: it sends requests and
    /// receives responses.
    pub fn for_client(ack: &HelloAck) -> Limits {
        Limits {
            max_send_payload: ack.agreed_max_request_payload_bytes,
            max_send_items: ack.agreed_max_request_batch_items,
            max_recv_payload: ack.agreed_max_response_payload_bytes,
            max_recv_items: ack.agreed_max_response_batch_items,
            packet_size: ack.agreed_packet_size,
        }
    }

    /// The server's view of the HELLO_ACK it sent: it receives requests and
    /// sends responses.
    pub fn for_server(ack: &HelloAck) -> Limits {
        Limits {
            max_send_payload: ack.agreed_max_response_payload_bytes,
            max_send_items: ack.agreed_max_response_batch_items,
            max_recv_payload: ack.agreed_max_request_payload_bytes,
            max_recv_items: ack.agreed_max_request_batch_items,
            packet_size: ack.agreed_packet_size,
        }
    }
}

/// The message ids of requests sent and not yet answered (PROTOCOL.md §6.5).
///
/// A small unordered set kept in a `Vec`: the number of requests in flight
/// is small, so a linear scan beats hashing, and once the vector has grown
/// to the working depth nothing is allocated again.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    ids: Vec<u64>,
}

impl InFlight {
    /// An empty set.
    pub fn new() -> InFlight {
        InFlight::default()
    }

    /// An empty set with room for `n` ids before it allocates.
    pub fn with_capacity(n: usize) -> InFlight {
        InFlight {
            ids: Vec::with_capacity(n),
        }
    }

    /// Records `id` as in flight; refuses an id that already is.
    pub fn insert(&mut self, id: u64) -> Result<(), TransportError> {
        if self.contains(id) {
            return Err(TransportError::DuplicateInFlight { id });
        }
        self.ids.push(id);
        Ok(())
    }

    /// Removes `id` because its response arrived; an id that is not in
    /// flight is the peer's protocol error.
    pub fn complete(&mut self, id: u64) -> Result<(), TransportError> {
        match self.ids.iter().position(|&x| x == id) {
            Some(i) => {
                self.ids.swap_remove(i);
                Ok(())
            }
            None => Err(TransportError::UnknownResponseId { id }),
        }
    }

    /// True when `id` is in flight.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Number of ids in flight.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Fails every request at once (the session broke): empties the set and
    /// yields the ids that were in flight.
    pub fn fail_all(&mut self) -> std::vec::Drain<'_, u64> {
        self.ids.drain(..)
    }
}
