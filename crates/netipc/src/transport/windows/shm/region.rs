//! One session's region: create (server), attach (client), publish,
//! receive, close (PROTOCOL-WINDOWS.md §4.2–§4.8).
//!
//! Memory ordering: every access to a length, sequence counter, waiting
//! flag or closed flag is SeqCst, on both sides. The payload is copied
//! before the length is stored and the length before the sequence is
//! incremented; the receiver loads the sequence before the length and the
//! payload. The waiting flag and the sequence form a Dekker pair (the
//! waiter stores its flag and then loads the sequence; the publisher
//! increments the sequence and then loads the flag), which needs a full
//! barrier on both sides or a wake-up is lost: SeqCst operations plus a
//! SeqCst fence after the flag store give exactly that, on x86 and ARM64.

#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::SeqCst};
use std::time::Duration;

use super::error::ShmError;
use super::layout::{off, Layout, HEADER_LEN, MAGIC, MAX_SPIN_TRIES, SPIN_TRIES, VERSION};
use super::view::{Event, Section};
use crate::deadline::Deadline;
use crate::transport::windows::naming::ShmNames;
use crate::transport::windows::sys::wait_ms;
use crate::transport::windows::{SHM_BUSYWAIT, SHM_HYBRID};
use crate::wire::Profiles;

/// Polls of a BUSYWAIT receive between two looks at the clock (and a
/// `yield_now`, so a waiter sharing its CPU with the publisher lets it run).
const BUSY_POLL_MASK: u32 = 1023;

/// Which side of the region this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmRole {
    /// Created the region; receives requests, publishes responses.
    Server,
    /// Attached to it; publishes requests, receives responses.
    Client,
}

/// Header offsets and area of one direction.
#[derive(Debug, Clone, Copy)]
struct Direction {
    area: usize,
    capacity: usize,
    len: usize,
    seq: usize,
    /// The receiver's waiting flag.
    waiting: usize,
    /// The publisher's closed flag.
    closed: usize,
}

/// A Windows shared-memory region of one session, seen from one side.
///
/// Dropping it sets this side's closed flag (and, for HYBRID, signals the
/// peer's event so a sleeping peer notices at once), unmaps the view and
/// closes the handles. Kernel objects vanish with their last handle, so
/// nothing is left behind by a crash either.
#[derive(Debug)]
pub struct ShmRegion {
    section: Section,
    req_event: Option<Event>,
    resp_event: Option<Event>,
    role: ShmRole,
    profile: Profiles,
    layout: Layout,
    spin_tries: u32,
    /// Messages this side has published.
    sent: i64,
    /// Messages this side has consumed.
    received: i64,
}

fn check_profile(profile: Profiles) -> Result<(), ShmError> {
    if profile == SHM_HYBRID || profile == SHM_BUSYWAIT {
        Ok(())
    } else {
        Err(ShmError::InvalidProfile(profile.bits()))
    }
}

/// For HYBRID, the two events, created or opened by `get`; none for
/// BUSYWAIT. Called before the region value exists, so a failure (an
/// attach that finds the section before the server made the events) leaves
/// no closed flag behind: only a dropped `ShmRegion` sets one.
fn events(
    profile: Profiles,
    names: &ShmNames,
    get: fn(&str) -> Result<Event, ShmError>,
) -> Result<(Option<Event>, Option<Event>), ShmError> {
    if profile == SHM_HYBRID {
        Ok((Some(get(&names.req_event)?), Some(get(&names.resp_event)?)))
    } else {
        Ok((None, None))
    }
}

impl ShmRegion {
    /// Server: creates the section (and, for HYBRID, the two events) named
    /// by `names`, sized for messages of up to `request` and `response`
    /// bytes (the 32-byte header included), and initialises the header. An
    /// existing object of one of the names fails with
    /// [`ShmError::AlreadyExists`] and is never reused.
    pub fn create(
        names: &ShmNames,
        profile: Profiles,
        request: u32,
        response: u32,
    ) -> Result<ShmRegion, ShmError> {
        check_profile(profile)?;
        let layout = Layout::for_capacities(request, response)?;
        let size = layout
            .size()
            .ok_or(ShmError::TooLarge { request, response })?;
        let section = Section::create(&names.mapping, size)?;
        layout.validate(section.len())?;
        section.zero(0, size as usize);
        let header = [
            (off::MAGIC, MAGIC),
            (off::VERSION, VERSION),
            (off::HEADER_LEN, HEADER_LEN),
            (off::PROFILE, profile.bits()),
            (off::REQUEST_OFFSET, layout.request_offset),
            (off::REQUEST_CAPACITY, layout.request_capacity),
            (off::RESPONSE_OFFSET, layout.response_offset),
            (off::RESPONSE_CAPACITY, layout.response_capacity),
            (off::SPIN_TRIES, SPIN_TRIES),
        ];
        for (at, value) in header {
            section.u32_at(at).store(value, SeqCst);
        }
        fence(SeqCst);
        let (req_event, resp_event) = events(profile, names, Event::create)?;
        Ok(ShmRegion {
            section,
            req_event,
            resp_event,
            role: ShmRole::Server,
            profile,
            layout,
            spin_tries: SPIN_TRIES,
            sent: 0,
            received: 0,
        })
    }

    /// Client: opens and checks the region the server created for the
    /// selected `profile`: magic, version, header length, profile, then
    /// the layout (non-zero multiples of 64, areas after the header and in
    /// order, no overflow, inside the mapped view). The spin budget is the
    /// header's, capped at [`MAX_SPIN_TRIES`].
    pub fn attach(names: &ShmNames, profile: Profiles) -> Result<ShmRegion, ShmError> {
        check_profile(profile)?;
        let section = Section::open(&names.mapping)?;
        if section.len() < HEADER_LEN as usize {
            return Err(ShmError::TooSmall {
                size: section.len(),
                needed: HEADER_LEN as usize,
            });
        }
        let field = |at| section.u32_at(at).load(SeqCst);
        let magic = field(off::MAGIC);
        if magic != MAGIC {
            return Err(ShmError::BadMagic(magic));
        }
        let version = field(off::VERSION);
        if version != VERSION {
            return Err(ShmError::BadVersion(version));
        }
        if field(off::HEADER_LEN) != HEADER_LEN {
            return Err(ShmError::BadHeader("header_len is not 128"));
        }
        let found = field(off::PROFILE);
        if found != profile.bits() {
            return Err(ShmError::BadProfile {
                found,
                expected: profile.bits(),
            });
        }
        let layout = Layout {
            request_offset: field(off::REQUEST_OFFSET),
            request_capacity: field(off::REQUEST_CAPACITY),
            response_offset: field(off::RESPONSE_OFFSET),
            response_capacity: field(off::RESPONSE_CAPACITY),
        };
        layout.validate(section.len())?;
        let spin_tries = field(off::SPIN_TRIES).min(MAX_SPIN_TRIES);
        let sent = section.i64_at(off::REQ_SEQ).load(SeqCst);
        let received = section.i64_at(off::RESP_SEQ).load(SeqCst);
        let (req_event, resp_event) = events(profile, names, Event::open)?;
        Ok(ShmRegion {
            section,
            req_event,
            resp_event,
            role: ShmRole::Client,
            profile,
            layout,
            spin_tries,
            sent,
            received,
        })
    }

    /// The profile (SHM_HYBRID or SHM_BUSYWAIT).
    pub fn profile(&self) -> Profiles {
        self.profile
    }

    /// Which side this is.
    pub fn role(&self) -> ShmRole {
        self.role
    }

    /// The region's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Largest message this side may publish (header included).
    pub fn send_capacity(&self) -> usize {
        self.outgoing().capacity.min(i32::MAX as usize)
    }

    fn request(&self) -> Direction {
        Direction {
            area: self.layout.request_offset as usize,
            capacity: self.layout.request_capacity as usize,
            len: off::REQ_LEN,
            seq: off::REQ_SEQ,
            waiting: off::REQ_SERVER_WAITING,
            closed: off::REQ_CLIENT_CLOSED,
        }
    }

    fn response(&self) -> Direction {
        Direction {
            area: self.layout.response_offset as usize,
            capacity: self.layout.response_capacity as usize,
            len: off::RESP_LEN,
            seq: off::RESP_SEQ,
            waiting: off::RESP_CLIENT_WAITING,
            closed: off::RESP_SERVER_CLOSED,
        }
    }

    fn outgoing(&self) -> Direction {
        match self.role {
            ShmRole::Client => self.request(),
            ShmRole::Server => self.response(),
        }
    }

    fn incoming(&self) -> Direction {
        match self.role {
            ShmRole::Client => self.response(),
            ShmRole::Server => self.request(),
        }
    }

    /// The event the peer sleeps on (client → req_event, server →
    /// resp_event), and the one this side sleeps on.
    fn peer_event(&self) -> Option<&Event> {
        match self.role {
            ShmRole::Client => self.req_event.as_ref(),
            ShmRole::Server => self.resp_event.as_ref(),
        }
    }

    fn own_event(&self) -> Option<&Event> {
        match self.role {
            ShmRole::Client => self.resp_event.as_ref(),
            ShmRole::Server => self.req_event.as_ref(),
        }
    }

    /// True once the peer has closed its side of the region.
    pub fn peer_closed(&self) -> bool {
        self.section.i32_at(self.incoming().closed).load(SeqCst) != 0
    }

    /// Publishes one message: `head` (the 32-byte header) followed by
    /// `body` (the payload), copied straight into the area. Refused
    /// locally when it is empty or larger than the area
    /// ([`ShmError::MessageTooLarge`]), when the previous message of this
    /// direction is unanswered ([`ShmError::Busy`]: a client must consume
    /// each response before the next request, a server answers each request
    /// once), or when the peer has closed ([`ShmError::PeerClosed`]).
    pub fn send(&mut self, head: &[u8], body: &[u8]) -> Result<(), ShmError> {
        let out = self.outgoing();
        let len = head.len().saturating_add(body.len());
        if len == 0 || len > self.send_capacity() {
            return Err(ShmError::MessageTooLarge {
                len,
                capacity: self.send_capacity(),
            });
        }
        let in_turn = match self.role {
            ShmRole::Client => self.sent == self.received,
            ShmRole::Server => self.sent < self.received,
        };
        if !in_turn {
            return Err(ShmError::Busy);
        }
        if self.peer_closed() {
            return Err(ShmError::PeerClosed);
        }
        self.section.copy_in(out.area, head);
        self.section.copy_in(out.area + head.len(), body);
        self.section.i32_at(out.len).swap(len as i32, SeqCst);
        self.section.i64_at(out.seq).fetch_add(1, SeqCst);
        if self
            .section
            .i32_at(self.incoming_waiting_of_peer())
            .load(SeqCst)
            != 0
        {
            if let Some(ev) = self.peer_event() {
                ev.set();
            }
        }
        self.sent += 1;
        Ok(())
    }

    /// The peer's waiting flag for the direction this side publishes.
    fn incoming_waiting_of_peer(&self) -> usize {
        self.outgoing().waiting
    }

    /// Waits up to `timeout` (`None`: forever) for the peer's next message
    /// and copies it into `buf` (header and payload); at most `max` bytes
    /// are accepted.
    ///
    /// First polls `spin_tries` times; then HYBRID sleeps on its event with
    /// the waiting flag set, BUSYWAIT keeps polling (yielding every 1024
    /// polls). [`ShmError::Timeout`] leaves the message to a later receive;
    /// [`ShmError::PeerClosed`] means the peer closed with nothing left to
    /// read. A received length of 0, a negative one, one above `max` or the
    /// area, or a message rewritten while it was copied is an error, and the
    /// message counts as consumed.
    pub fn recv(
        &mut self,
        buf: &mut Vec<u8>,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<(), ShmError> {
        let incoming = self.incoming();
        let expected = self.received + 1;
        let arrived = |s: &ShmRegion| s.section.i64_at(incoming.seq).load(SeqCst) >= expected;
        let deadline = Deadline::new(timeout);
        for _ in 0..self.spin_tries {
            if arrived(self) {
                return self.take(expected, buf, max);
            }
            std::hint::spin_loop();
        }
        if self.profile == SHM_HYBRID {
            let waiting = self.section.i32_at(incoming.waiting);
            loop {
                waiting.store(1, SeqCst);
                fence(SeqCst);
                if arrived(self) {
                    waiting.store(0, SeqCst);
                    break;
                }
                if self.peer_closed() {
                    waiting.store(0, SeqCst);
                    if arrived(self) {
                        break;
                    }
                    return Err(ShmError::PeerClosed);
                }
                if deadline.expired() {
                    waiting.store(0, SeqCst);
                    return Err(ShmError::Timeout);
                }
                // A wake-up is a hint (an auto-reset event may still be set
                // from a publication already consumed); the loop re-checks.
                if let Some(ev) = self.own_event() {
                    ev.wait(wait_ms(&deadline));
                }
                waiting.store(0, SeqCst);
            }
        } else {
            let mut polls = 0u32;
            while !arrived(self) {
                if self.peer_closed() {
                    if arrived(self) {
                        break;
                    }
                    return Err(ShmError::PeerClosed);
                }
                polls = polls.wrapping_add(1);
                if polls & BUSY_POLL_MASK == 0 {
                    if deadline.expired() {
                        return Err(ShmError::Timeout);
                    }
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        self.take(expected, buf, max)
    }

    /// Copies the published message `expected` into `buf` and checks it.
    fn take(&mut self, expected: i64, buf: &mut Vec<u8>, max: usize) -> Result<(), ShmError> {
        let incoming = self.incoming();
        self.received = expected;
        let seq_word = self.section.i64_at(incoming.seq);
        let len_word = self.section.i32_at(incoming.len);
        let seq = seq_word.load(SeqCst);
        let len = len_word.load(SeqCst);
        let allowed = max.min(incoming.capacity);
        if len == 0 {
            return Err(ShmError::EmptyMessage);
        }
        if len < 0 || len as usize > allowed {
            return Err(ShmError::BadLength { len, max: allowed });
        }
        self.section.copy_out(incoming.area, len as usize, buf);
        if seq != expected || seq_word.load(SeqCst) != seq || len_word.load(SeqCst) != len {
            return Err(ShmError::Torn);
        }
        Ok(())
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        let closed = self.outgoing().closed;
        self.section.i32_at(closed).store(1, SeqCst);
        fence(SeqCst);
        if let Some(ev) = self.peer_event() {
            ev.set();
        }
    }
}
