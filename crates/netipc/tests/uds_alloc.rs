//! Steady state allocates nothing: once the buffers have grown, sending and
//! receiving (plain, chunked, pipelined) performs no heap allocation.
//!
//! Allocations are counted per thread, and only on the thread that runs the
//! test: the test harness's own threads (its main thread collects output
//! and may allocate at any moment) cannot disturb the count.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::*;

struct Counting;

thread_local! {
    // `const` initialisation: reading or bumping the counter never
    // allocates, so the allocator can use it without recursing.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts one allocation on the calling thread. During thread teardown the
/// slot may be gone; such allocations are not the test thread's.
fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations made so far by the calling thread.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter has no influence on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_send_and_receive_do_not_allocate() {
    let l = limits(64 << 10, 4, 512);
    let (mut client, mut server) = channel_pair(l, l);
    let small = pattern(8, 1);
    let big = pattern(5000, 2); // chunked at 512-byte packets
    let timeout = Some(Duration::from_secs(5));

    let mut exchange = |round: u64| {
        for (i, body) in [&small, &big].into_iter().enumerate() {
            let id = round * 4 + i as u64;
            client
                .send_request(&request(body.len() as u32, id), body)
                .unwrap();
            let (h, p) = server.recv(timeout).unwrap();
            assert_eq!(p.len(), body.len());
            let reply = response(h.code, h.payload_len, h.message_id);
            // Echo from a copy-free slice of the caller's data.
            server.send(&reply, body).unwrap();
            let (h, p) = client.recv_response(timeout).unwrap();
            assert_eq!((h.message_id, p.len()), (id, body.len()));
        }
        // Two requests in flight at once.
        client
            .send_request(&request(8, round * 4 + 2), &small)
            .unwrap();
        client
            .send_request(&request(8, round * 4 + 3), &small)
            .unwrap();
        for _ in 0..2 {
            let (h, _) = server.recv(None).unwrap();
            server
                .send(&response(h.code, 8, h.message_id), &small)
                .unwrap();
        }
        for _ in 0..2 {
            client.recv_response(timeout).unwrap();
        }
    };

    // Warm up: buffers grow to their working size.
    for round in 0..3 {
        exchange(round);
    }
    // The counter sees this thread's allocations (so a zero below means
    // something).
    let probe = allocations();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(64)));
    assert_eq!(allocations(), probe + 1, "the counter missed an allocation");

    let before = allocations();
    for round in 3..1003 {
        exchange(round);
    }
    let after = allocations();
    assert_eq!(after - before, 0, "steady-state messaging allocated");
}
