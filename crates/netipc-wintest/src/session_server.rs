//! A test server over the library's Windows sessions (pipe or shared
//! memory): an accept thread that only accepts, and a thread per session
//! that runs `ServerSession::accept` and answers with `respond`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netipc::transport::handshake::{ServerPolicy, SessionIds};
use netipc::transport::windows::{
    ClientSession, PipeConn, PipeListener, PipeListenerConfig, ServerSession,
};
use netipc::transport::{
    ClientProposal, HandshakeError, ServerSessionConfig, SessionConfig, SessionError,
};
use netipc::wire::{Header, HelloAck, Method, Profiles};

use crate::support::{check_response, ep, request_payload, respond, HANDSHAKE, LONG, TOKEN};

/// What the session server reports.
#[derive(Debug)]
pub enum SessionEvent {
    /// A handshake ended; on success, whether the session runs on SHM.
    Accepted(Result<(HelloAck, bool), HandshakeError>),
    /// A session ended with this error.
    Ended(SessionError),
}

/// The session-based test server.
pub struct SessionServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    events: Receiver<SessionEvent>,
}

impl SessionServer {
    /// Binds, then accepts in the background with `policy` (token
    /// [`TOKEN`] unless the policy says otherwise).
    pub fn start(run_dir: &Path, service: &str, policy: ServerPolicy) -> SessionServer {
        let listener = PipeListener::bind(&ep(run_dir, service), &PipeListenerConfig::default())
            .expect("bind the session server");
        let config = ServerSessionConfig::new(policy).with_handshake_timeout(HANDSHAKE);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = channel();
        let (stop2, run_dir, service) = (stop.clone(), run_dir.to_owned(), service.to_owned());
        let thread = std::thread::spawn(move || {
            let ids = SessionIds::new();
            while !stop2.load(Ordering::SeqCst) {
                if let Ok(Some(conn)) = listener.accept(Some(Duration::from_millis(50))) {
                    let (tx, stop, id) = (tx.clone(), stop2.clone(), ids.next_id());
                    let (config, run_dir, service) =
                        (config.clone(), run_dir.clone(), service.clone());
                    std::thread::spawn(move || {
                        serve(conn, &run_dir, &service, id, &config, &tx, &stop)
                    });
                }
            }
        });
        SessionServer {
            stop,
            thread: Some(thread),
            events,
        }
    }

    /// The next event, or a panic after [`LONG`].
    pub fn event(&self) -> SessionEvent {
        match self.events.recv_timeout(LONG) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => panic!("no server event within {LONG:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the session server stopped"),
        }
    }

    /// The next event, which must be an accepted session; returns its ACK
    /// and whether it runs on shared memory.
    pub fn accepted(&self) -> (HelloAck, bool) {
        match self.event() {
            SessionEvent::Accepted(Ok(v)) => v,
            other => panic!("expected an accepted session, got {other:?}"),
        }
    }

    /// The next event, which must be the end of a session.
    pub fn ended(&self) -> SessionError {
        match self.event() {
            SessionEvent::Ended(e) => e,
            other => panic!("expected a session end, got {other:?}"),
        }
    }
}

impl Drop for SessionServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    conn: PipeConn,
    run_dir: &Path,
    service: &str,
    id: u64,
    config: &ServerSessionConfig,
    tx: &Sender<SessionEvent>,
    stop: &AtomicBool,
) {
    let mut session = match ServerSession::accept(conn, &ep(run_dir, service), id, config) {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(SessionEvent::Accepted(Err(e)));
            return;
        }
    };
    let shm = session.is_shm();
    let _ = tx.send(SessionEvent::Accepted(Ok((*session.negotiated(), shm))));
    loop {
        let reply = match session.recv(Duration::from_millis(50)) {
            Ok(Some(h)) => respond(&h, session.payload()),
            Ok(None) if stop.load(Ordering::SeqCst) => return,
            Ok(None) => continue,
            Err(e) => {
                let _ = tx.send(SessionEvent::Ended(e));
                return;
            }
        };
        if let Err(e) = session.send(&reply.0, &reply.1) {
            let _ = tx.send(SessionEvent::Ended(e));
            return;
        }
    }
}

/// A server policy with [`TOKEN`], these profiles and preferences, room
/// for `max_response` bytes and request proposals up to 1 MiB.
pub fn shm_policy(supported: u32, preferred: u32, max_response: u32) -> ServerPolicy {
    ServerPolicy {
        supported: Profiles(supported),
        preferred: Profiles(preferred),
        max_request_payload: 1 << 20,
        max_response_payload: max_response,
        auth_token: TOKEN,
        ..ServerPolicy::default()
    }
}

/// A client config with [`TOKEN`], these profiles and preferences, and a
/// request limit of `max_request`.
pub fn shm_client_config(supported: u32, preferred: u32, max_request: u32) -> SessionConfig {
    SessionConfig::new(ClientProposal {
        supported: Profiles(supported),
        preferred: Profiles(preferred),
        max_request_payload: max_request,
        max_response_payload: 0,
        auth_token: TOKEN,
        ..ClientProposal::default()
    })
    .with_response_timeout(LONG)
}

/// One checked call over a session.
pub fn session_call(s: &mut ClientSession, id: u64, resp_len: usize, req_len: usize) {
    let payload = request_payload(resp_len as u32, req_len);
    let h = Header::request(Method::Increment, payload.len() as u32, id);
    let rh = s.call(&h, &payload).expect("call");
    check_response(&rh, s.payload(), resp_len, id);
}
