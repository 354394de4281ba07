//! Publishing and consuming messages through a region (PROTOCOL §7.6–§7.7),
//! with the sequence-number and hang-up checks that keep a hostile or
//! vanished peer from holding a receiver.

use rustix::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::error::{io_err, ShmError};
use super::futex::{self, WaitOutcome};
use super::layout::{Area, MESSAGE_HEADER_LEN, OFF_REQ_SEQ};
use super::region::ShmRegion;
use super::watch::{PeerWatch, PEER_CHECK_INTERVAL};
use crate::deadline::Deadline;
use crate::transport::wait::Waiter;

/// Name of an area's sequence word, for errors.
fn seq_word(area: &Area) -> &'static str {
    if area.seq == OFF_REQ_SEQ {
        "req_seq"
    } else {
        "resp_seq"
    }
}

impl ShmRegion {
    /// Publishes one message, `header` followed by `payload`, in our own area
    /// (PROTOCOL §7.6): both parts are copied straight into the mapping, then
    /// the length is stored (release), the sequence number incremented
    /// (release; the publication point), the signal word incremented and one
    /// waiter woken with `FUTEX_WAKE` — on every publish, because a peer may be
    /// asleep on the signal word.
    ///
    /// The caller is responsible for the header's contents (its `payload_len`
    /// should equal `payload.len()`), and must not publish again before the
    /// peer answered: each area holds one message.
    ///
    /// Fails with [`ShmError::MessageTooLarge`] (nothing written) if the
    /// message does not fit, and with [`ShmError::SequenceCorrupt`] if our
    /// sequence word did not hold the value we last published (someone else
    /// wrote it; the session must end). An [`ShmError::Io`] from the wake-up
    /// means the message *was* published but a sleeping peer may not have
    /// been woken.
    pub fn send(&mut self, header: &[u8; 32], payload: &[u8]) -> Result<(), ShmError> {
        let area = self.own;
        let len = MESSAGE_HEADER_LEN.saturating_add(payload.len());
        if len > area.capacity as usize {
            return Err(ShmError::MessageTooLarge {
                len,
                capacity: area.capacity,
            });
        }
        self.map.copy_in(area.offset, header);
        self.map.copy_in(area.offset + MESSAGE_HEADER_LEN, payload);
        // Lossless: len ≤ capacity, a u32.
        self.map
            .atomic_u32(area.len)
            .store(len as u32, Ordering::Release);
        let before = self
            .map
            .atomic_u64(area.seq)
            .fetch_add(1, Ordering::Release);
        let signal = self.map.atomic_u32(area.signal);
        signal.fetch_add(1, Ordering::Release);
        let expected = self.published;
        self.published = self.published.wrapping_add(1);
        futex::wake(signal, 1).map_err(|e| io_err("futex wake", &self.path, e))?;
        if before != expected {
            return Err(ShmError::SequenceCorrupt {
                word: seq_word(&area),
                expected,
                found: before,
            });
        }
        Ok(())
    }

    /// Waits for the peer's next message and copies it into `buf` (PROTOCOL
    /// §7.7), returning its length (header included; `buf.len()` equals it).
    ///
    /// First polls the peer's sequence number as `waiter` decides, then
    /// sleeps on the peer's signal word. `timeout` (`None` = forever) counts
    /// from the end of the polling phase. On [`ShmError::Timeout`] nothing is
    /// consumed, so callers may wait in slices and check other conditions in
    /// between.
    ///
    /// The peer's sequence number must hold either the value last consumed
    /// (nothing new) or the next one (a message). Anything else — a jump
    /// forward by more than one, a step back, `u64::MAX` — is
    /// [`ShmError::SequenceCorrupt`]: nothing is consumed and the session
    /// must end (a receiver that answered such a word would answer the same
    /// slot forever).
    ///
    /// Once a publication is seen, the length is read once and must satisfy
    /// `32 ≤ len ≤ capacity` of the peer's area ([`ShmError::Corrupt`] for 0
    /// or beyond the capacity, [`ShmError::ShortMessage`] below 32); the slot
    /// is consumed in all these cases. Exactly `len` bytes are copied; `buf`'s
    /// allocation is reused when large enough. The message itself (outer
    /// header) is not decoded here.
    pub fn recv(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
    ) -> Result<usize, ShmError> {
        self.consume(buf, timeout, waiter, None)
    }

    /// [`ShmRegion::recv`] that also watches the session's control socket
    /// `control` (the connected UNIX socket of the handshake) and fails with
    /// [`ShmError::PeerGone`] once the peer hung up. The socket is looked at
    /// (a zero-timeout `poll`):
    ///
    /// * when a wait is woken without a new message — a peer dropping its
    ///   [`ShmRegion`] nudges the futex word, so an orderly exit is noticed
    ///   at once;
    /// * at least every [`PEER_CHECK_INTERVAL`] while sleeping (a peer killed
    ///   without a nudge), and before reporting a timeout;
    /// * at least every [`PEER_CHECK_INTERVAL`] while messages keep arriving,
    ///   so a writer that keeps publishing after the session's client left
    ///   cannot hold the receiver.
    pub fn recv_watching(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
        control: BorrowedFd<'_>,
    ) -> Result<usize, ShmError> {
        self.consume(buf, timeout, waiter, Some(control))
    }

    fn consume(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
        control: Option<BorrowedFd<'_>>,
    ) -> Result<usize, ShmError> {
        let area = self.peer;
        let mut watch = control.map(|fd| PeerWatch::new(fd, self.next_peer_check));
        let result = self.wait_for_publication(area, timeout, waiter, watch.as_mut());
        if let Some(w) = watch {
            self.next_peer_check = w.next();
        }
        result?;

        self.consumed = self.consumed.wrapping_add(1);
        // Read the length exactly once; everything below uses this local.
        let len = self.map.atomic_u32(area.len).load(Ordering::Acquire);
        if len == 0 || len > area.capacity {
            return Err(ShmError::Corrupt {
                len,
                capacity: area.capacity,
            });
        }
        if (len as usize) < MESSAGE_HEADER_LEN {
            return Err(ShmError::ShortMessage { len });
        }
        // In bounds: len ≤ capacity, and the area was validated to lie inside
        // the mapping (attach) or was laid out by us (create).
        self.map.copy_out(area.offset, len as usize, buf);
        Ok(len as usize)
    }

    /// Returns once the peer's next publication is visible (nothing
    /// consumed yet), or with the reason it is not coming.
    fn wait_for_publication(
        &self,
        area: Area,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
        mut watch: Option<&mut PeerWatch<'_>>,
    ) -> Result<(), ShmError> {
        let seq = self.map.atomic_u64(area.seq);
        let consumed = self.consumed;
        let expected = consumed.wrapping_add(1);
        // None: nothing new; Some(Ok): the next message; Some(Err): corrupt.
        let state = || match seq.load(Ordering::Acquire) {
            s if s == expected => Some(Ok(())),
            s if s == consumed => None,
            found => Some(Err(ShmError::SequenceCorrupt {
                word: seq_word(&area),
                expected,
                found,
            })),
        };
        let gone = |watch: &mut Option<&mut PeerWatch<'_>>, force: bool| {
            watch.as_mut().map_or(false, |w| w.check(force))
        };
        // The timed check, even if a message is already there.
        if gone(&mut watch, false) {
            return Err(ShmError::PeerGone);
        }
        if let Some(ready) = waiter.spin(&state) {
            return ready;
        }
        let signal = self.map.atomic_u32(area.signal);
        // A timeout too large to represent means "forever".
        let deadline = Deadline::new(timeout);
        let mut nudged = false;
        let result = loop {
            // Read the signal word before re-checking seq: a publication
            // after this load changes the word, so FUTEX_WAIT returns at
            // once instead of missing the wake-up.
            let observed = signal.load(Ordering::Acquire);
            if let Some(ready) = state() {
                break ready;
            }
            // Woken without a message: maybe the peer's farewell nudge.
            if gone(&mut watch, nudged) {
                break Err(ShmError::PeerGone);
            }
            let mut remaining = deadline.remaining();
            if let (Some(timeout), Some(left)) = (deadline.timeout(), remaining) {
                if left.is_zero() {
                    break Err(if gone(&mut watch, true) {
                        ShmError::PeerGone
                    } else {
                        ShmError::Timeout { timeout }
                    });
                }
            }
            if let Some(w) = watch.as_ref() {
                let cap = w.sleep_cap().min(PEER_CHECK_INTERVAL);
                remaining = Some(remaining.map_or(cap, |r| r.min(cap)));
            }
            match futex::wait(signal, observed, remaining) {
                Ok(WaitOutcome::Woken | WaitOutcome::ValueChanged) => nudged = true,
                // On TimedOut the loop re-checks seq once more and then
                // reports the timeout through the deadline check.
                Ok(WaitOutcome::Interrupted | WaitOutcome::TimedOut) => nudged = false,
                Err(e) => break Err(io_err("futex wait", &self.path, e)),
            }
        };
        waiter.finish_wait();
        result
    }
}
