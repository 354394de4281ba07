//! The peer process of the two-process tests:
//! `netipc-wintest child ROLE RUN_DIR SERVICE`.
//!
//! * `server`: serves until its first session ends, printing `ready` once
//!   listening and `done CALLS` at the end;
//! * `client CALLS`: connects, makes CALLS calls, prints `ready`, then
//!   waits for a line on stdin (the parent kills it meanwhile, or closes
//!   stdin to let it exit);
//! * `l2-server PROFILES ITEMS`: a Level 2 managed server of a cgroups
//!   snapshot of ITEMS cgroups (profiles 1: the pipe only, else the
//!   defaults); prints `ready` once listening, serves until stdin closes,
//!   then prints `served SESSIONS`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use netipc::service::ManagedServer;
use netipc::transport::handshake::server_handshake;
use netipc::transport::windows::{
    ClientSession, PipeChannel, PipeConn, PipeListener, PipeListenerConfig, ServerSession,
};
use netipc::transport::{Limits, ServerSessionConfig};
use netipc::wire::HelloAck;

use crate::level2::{cgroups_handler, server_config};
use crate::session_server::{session_call, shm_client_config, shm_policy};
use crate::support::{call, client, ep, policy, proposal, respond, HANDSHAKE, LONG};

/// Runs a child role; returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let (role, run_dir, service) = match args {
        [role, run_dir, service, ..] => (role.as_str(), PathBuf::from(run_dir), service.as_str()),
        _ => {
            eprintln!("usage: child ROLE RUN_DIR SERVICE [ARGS]");
            return 2;
        }
    };
    match role {
        "server" => serve_one(&run_dir, service),
        "client" => {
            let calls: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
            let mut chan = client(&run_dir, service, &proposal(4096));
            for id in 1..=calls {
                call(&mut chan, id, 100, 100);
            }
            say("ready");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            0
        }
        "shm-server" => {
            let supported: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
            shm_serve_one(&run_dir, service, supported)
        }
        "shm-client" => {
            let supported: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
            let calls: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
            let cfg = shm_client_config(supported, 0, 4096);
            let mut s = ClientSession::connect(&ep(&run_dir, service), &cfg).expect("connect");
            for id in 1..=calls {
                session_call(&mut s, id, 100, 100);
            }
            say(if s.is_shm() {
                "ready shm"
            } else {
                "ready pipe"
            });
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            0
        }
        "l2-server" => {
            let plane: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
            let items: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
            l2_serve(&run_dir, service, plane, items)
        }
        other => {
            eprintln!("unknown child role {other}");
            2
        }
    }
}

fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{what}");
    let _ = out.flush();
}

/// A managed cgroups server until stdin closes.
fn l2_serve(run_dir: &std::path::Path, service: &str, plane: u32, items: usize) -> i32 {
    let endpoint = ep(run_dir, service);
    let config = server_config(netipc::wire::Profiles(plane));
    let server = match ManagedServer::start(endpoint, config, cgroups_handler(items)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("start: {e}");
            return 1;
        }
    };
    say("ready");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let served = server.stats().sessions_served;
    server.shutdown();
    say(&format!("served {served}"));
    0
}

/// Accepts one client, answers until it leaves, reports the number of calls.
fn serve_one(run_dir: &std::path::Path, service: &str) -> i32 {
    let conn = match bind_and_accept(run_dir, service) {
        Some(c) => c,
        None => return 1,
    };
    let ack = match server_handshake(&conn, &policy(4096), 1, LONG, |_: &HelloAck| {
        Ok::<(), std::convert::Infallible>(())
    }) {
        Ok(ack) => ack,
        Err(e) => {
            eprintln!("handshake: {e}");
            return 1;
        }
    };
    let mut chan = PipeChannel::new(conn, Limits::for_server(&ack)).expect("channel");
    let mut calls = 0u64;
    loop {
        let reply = match chan.recv_split(Some(Duration::from_secs(60)), Some(LONG)) {
            Ok((h, p)) => respond(&h, p),
            Err(netipc::transport::TransportError::PeerClosed) => break,
            Err(e) => {
                eprintln!("recv: {e}");
                return 1;
            }
        };
        if let Err(e) = chan.send(&reply.0, &reply.1) {
            eprintln!("send: {e}");
            return 1;
        }
        calls += 1;
    }
    say(&format!("done {calls}"));
    0
}

/// Accepts one session (shared memory when offered), answers until it
/// ends, reports how it ended.
fn shm_serve_one(run_dir: &std::path::Path, service: &str, supported: u32) -> i32 {
    let conn = match bind_and_accept(run_dir, service) {
        Some(c) => c,
        None => return 1,
    };
    let config =
        ServerSessionConfig::new(shm_policy(supported, 0, 4096)).with_handshake_timeout(HANDSHAKE);
    let mut session = match ServerSession::accept(conn, &ep(run_dir, service), 1, &config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("handshake: {e}");
            return 1;
        }
    };
    loop {
        let reply = match session.recv(Duration::from_millis(50)) {
            Ok(Some(h)) => respond(&h, session.payload()),
            Ok(None) => continue,
            Err(e) => {
                say(&format!("ended {e}"));
                return 0;
            }
        };
        if let Err(e) = session.send(&reply.0, &reply.1) {
            say(&format!("ended {e}"));
            return 0;
        }
    }
}

/// Binds, says `ready`, accepts one client; `None` (after saying why on
/// stderr) on failure.
fn bind_and_accept(run_dir: &std::path::Path, service: &str) -> Option<PipeConn> {
    let listener = PipeListener::bind(&ep(run_dir, service), &PipeListenerConfig::default())
        .map_err(|e| eprintln!("bind: {e}"))
        .ok()?;
    say("ready");
    match listener.accept(Some(LONG)) {
        Ok(Some(c)) => Some(c),
        other => {
            eprintln!("accept: {other:?}");
            None
        }
    }
}
