//! Shared pieces of the tests: unique endpoints, payload patterns, a test
//! server over the Level 1 Windows primitives, and a client helper.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use netipc::auth::AuthToken;
use netipc::transport::handshake::{
    client_handshake, server_handshake, ClientProposal, ServerPolicy, SessionIds,
};
use netipc::transport::windows::{
    connect_timeout, PipeChannel, PipeConn, PipeListener, PipeListenerConfig, REJECT_LINGER,
};
use netipc::transport::{Endpoint, HandshakeError, Limits, TransportError};
use netipc::wire::{Header, HelloAck, Method, Status};

/// Generous bound for anything a test waits for.
pub const LONG: Duration = Duration::from_secs(20);

/// Handshake deadline of the test server unless a test says otherwise.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// The token the tests' servers expect.
pub const TOKEN: AuthToken = AuthToken::new(0xDEAD_BEEF_CAFE_BABE);

/// A run directory and service name no other test uses (the run directory
/// is only hashed into the pipe name; it is never created).
pub fn endpoint() -> (PathBuf, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    (
        PathBuf::from(format!(r"C:\netipc-test\{pid}")),
        format!("svc-{pid}-{n}"),
    )
}

/// The endpoint of a run directory and service name that must be valid.
pub fn ep(run_dir: &std::path::Path, service: &str) -> Endpoint {
    Endpoint::new(run_dir, service).expect("a valid endpoint")
}

/// Byte `i` of every test payload.
pub fn pat(i: usize) -> u8 {
    (i % 251) as u8
}

/// A request asking for a response of `resp_len` bytes and carrying
/// `req_len` bytes itself (at least 4: the length field, then the pattern).
pub fn request_payload(resp_len: u32, req_len: usize) -> Vec<u8> {
    let mut p = resp_len.to_le_bytes().to_vec();
    p.extend((0..req_len.saturating_sub(4)).map(pat));
    p
}

/// What the test server answers: the pattern, as long as asked; a request
/// whose pattern is wrong gets BAD_ENVELOPE and no payload.
pub fn respond(h: &Header, p: &[u8]) -> (Header, Vec<u8>) {
    if p.len() < 4 {
        return (
            Header::response_to(h, Status::Ok, p.len() as u32),
            p.to_vec(),
        );
    }
    let n = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
    if p[4..].iter().enumerate().any(|(i, &b)| b != pat(i)) {
        return (Header::response_to(h, Status::BadEnvelope, 0), Vec::new());
    }
    let body: Vec<u8> = (0..n).map(pat).collect();
    (Header::response_to(h, Status::Ok, n as u32), body)
}

/// Checks a response to `request_payload(n, _)`.
pub fn check_response(h: &Header, p: &[u8], n: usize, id: u64) {
    assert_eq!(h.message_id, id, "response id");
    assert_eq!(h.transport_status, 0, "response status");
    assert_eq!(p.len(), n, "response length");
    if let Some(i) = p.iter().enumerate().position(|(i, &b)| b != pat(i)) {
        panic!("response byte {i} differs");
    }
}

/// What the test server reports.
#[derive(Debug)]
pub enum Event {
    /// A handshake ended (accepted, or failed / rejected).
    Handshake(Result<HelloAck, HandshakeError>),
    /// A session ended with this receive or send error.
    Ended(TransportError),
    /// `accept` failed.
    Accept(TransportError),
}

/// The test server: a listener, an accept thread that only accepts, and a
/// thread per session that runs the handshake (with a deadline) and then
/// answers with [`respond`].
pub struct TestServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    events: Receiver<Event>,
}

impl TestServer {
    /// Binds before returning, so clients may connect at once.
    pub fn start(run_dir: &std::path::Path, service: &str, policy: ServerPolicy) -> TestServer {
        TestServer::start_with(run_dir, service, policy, HANDSHAKE)
    }

    /// [`TestServer::start`] with a handshake deadline.
    pub fn start_with(
        run_dir: &std::path::Path,
        service: &str,
        policy: ServerPolicy,
        handshake: Duration,
    ) -> TestServer {
        let listener = PipeListener::bind(&ep(run_dir, service), &PipeListenerConfig::default())
            .expect("bind the test server");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = channel();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let ids = SessionIds::new();
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept(Some(Duration::from_millis(50))) {
                    Ok(Some(conn)) => {
                        let (tx, stop, id) = (tx.clone(), stop2.clone(), ids.next_id());
                        std::thread::spawn(move || serve(conn, policy, id, handshake, tx, stop));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.send(Event::Accept(e));
                    }
                }
            }
        });
        TestServer {
            stop,
            thread: Some(thread),
            events,
        }
    }

    /// The next event, or a panic after [`LONG`].
    pub fn event(&self) -> Event {
        match self.events.recv_timeout(LONG) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => panic!("no server event within {LONG:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the test server stopped"),
        }
    }

    /// The next event, which must be a handshake; returns its result.
    pub fn handshake(&self) -> Result<HelloAck, HandshakeError> {
        match self.event() {
            Event::Handshake(r) => r,
            other => panic!("expected a handshake event, got {other:?}"),
        }
    }

    /// The next event, which must be the end of a session.
    pub fn ended(&self) -> TransportError {
        match self.event() {
            Event::Ended(e) => e,
            other => panic!("expected a session end, got {other:?}"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One server session: handshake with a deadline (lingering after a
/// rejection so the client reads it), then answer requests until the client
/// leaves or the server stops.
fn serve(
    conn: PipeConn,
    policy: ServerPolicy,
    id: u64,
    handshake: Duration,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
) {
    let hs = server_handshake(&conn, &policy, id, handshake, |_: &HelloAck| {
        Ok::<(), std::convert::Infallible>(())
    });
    let ack = match hs {
        Ok(ack) => ack,
        Err(e) => {
            if e.status().is_some() {
                conn.linger(REJECT_LINGER);
            }
            let _ = tx.send(Event::Handshake(Err(e)));
            return;
        }
    };
    let _ = tx.send(Event::Handshake(Ok(ack)));
    let mut chan = PipeChannel::new(conn, Limits::for_server(&ack)).expect("server channel");
    loop {
        let reply = match chan.recv_split(Some(Duration::from_millis(50)), Some(LONG)) {
            Ok((h, p)) => respond(&h, p),
            Err(TransportError::Timeout) if !stop.load(Ordering::SeqCst) => continue,
            Err(TransportError::Timeout) => return,
            Err(e) => {
                let _ = tx.send(Event::Ended(e));
                return;
            }
        };
        if let Err(e) = chan.send(&reply.0, &reply.1) {
            let _ = tx.send(Event::Ended(e));
            return;
        }
    }
}

/// A server policy accepting [`TOKEN`] with the given response limit and
/// request proposals up to 1 MiB.
pub fn policy(max_response: u32) -> ServerPolicy {
    ServerPolicy {
        max_request_payload: 1 << 20,
        max_response_payload: max_response,
        auth_token: TOKEN,
        ..ServerPolicy::default()
    }
}

/// A proposal with [`TOKEN`] and the given request limit.
pub fn proposal(max_request: u32) -> ClientProposal {
    ClientProposal {
        max_request_payload: max_request,
        max_request_batch_items: 1,
        max_response_payload: 0,
        auth_token: TOKEN,
        ..ClientProposal::default()
    }
}

/// Connects and runs the client handshake.
pub fn try_client(
    run_dir: &std::path::Path,
    service: &str,
    p: &ClientProposal,
) -> Result<PipeChannel, HandshakeError> {
    let conn = connect_timeout(&ep(run_dir, service), LONG).expect("connect");
    let ack = client_handshake(&conn, p, HANDSHAKE)?;
    Ok(PipeChannel::new(conn, Limits::for_client(&ack))?)
}

/// [`try_client`] that must succeed.
pub fn client(run_dir: &std::path::Path, service: &str, p: &ClientProposal) -> PipeChannel {
    try_client(run_dir, service, p).expect("client handshake")
}

/// One call: a request for `resp_len` bytes carrying `req_len` bytes, then
/// its checked response.
pub fn call(chan: &mut PipeChannel, id: u64, resp_len: usize, req_len: usize) {
    let payload = request_payload(resp_len as u32, req_len);
    let h = Header::request(Method::Increment, payload.len() as u32, id);
    chan.send_request(&h, &payload).expect("send request");
    let (rh, rp) = chan.recv_response(Some(LONG)).expect("response");
    check_response(&rh, rp, resp_len, id);
}
