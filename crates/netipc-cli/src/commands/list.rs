//! `netipc list`: every endpoint (`*.sock`) in a run directory, whether a
//! provider listens there, who it is, and what it serves.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use netipc::service::{ConnectFailure, Endpoint, HandshakeError};
use serde_json::{json, Value};

use super::{output, print_json};
use crate::cli::ListArgs;
use crate::endpoint::run_dir_error;
use crate::exit::CliError;
use crate::log;
use crate::probe::{self, method_name, profile_names, MethodServed, Peer};
use crate::token::{self, Token};

/// Default longest wait per endpoint.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// One endpoint as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The service name (the socket's file name without `.sock`).
    pub service: String,
    /// `live`, `stale` (nobody listens) or `unreachable` (see `note`).
    pub state: &'static str,
    /// The listening process (live endpoints).
    pub peer: Option<Peer>,
    /// Owner of the socket file.
    pub file_uid: Option<u32>,
    /// Profiles the server supports (after a successful handshake).
    pub profiles: Option<Vec<String>>,
    /// The method served (after a successful handshake and probe).
    pub method: Option<&'static str>,
    /// Why something is missing, if it is.
    pub note: Option<String>,
}

/// Runs `netipc list`.
///
/// # Errors
///
/// Exit 5 when the run directory cannot be read.
pub fn run(args: &ListArgs) -> Result<(), CliError> {
    let run_dir = &args.common.run_dir;
    let timeout = args.common.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let token = match token::resolve(args.common.token) {
        Ok(t) => Some(t),
        Err(e) => {
            log::note(&format!("no handshake, owners only: {e}"));
            None
        }
    };
    let entries = scan(run_dir, token.as_ref(), timeout)?;
    if args.json {
        return print_json(&json!({
            "run_dir": run_dir.display().to_string(),
            "token": token.map(|t| json!({
                "source": t.source.describe(),
                "fingerprint": t.fingerprint(),
            })),
            "endpoints": entries.iter().map(entry_json).collect::<Vec<_>>(),
        }));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(write_table(&mut out, &entries))
}

/// Probes every `*.sock` in `run_dir`, in name order.
///
/// # Errors
///
/// Exit 5 when the directory cannot be read.
pub fn scan(
    run_dir: &Path,
    token: Option<&Token>,
    timeout: Duration,
) -> Result<Vec<Entry>, CliError> {
    let dir = match std::fs::read_dir(run_dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CliError::run_dir(format!(
                "run directory {} does not exist (choose another with --run-dir)",
                run_dir.display()
            )))
        }
        Err(e) => return Err(run_dir_error(run_dir, &e)),
    };
    let mut names: Vec<(String, Option<u32>)> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let service = name.strip_suffix(".sock")?.to_string();
            let uid = e.metadata().ok().map(|m| m.uid());
            Some((service, uid))
        })
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|(service, file_uid)| examine(run_dir, service, file_uid, token, timeout))
        .collect())
}

fn examine(
    run_dir: &Path,
    service: String,
    file_uid: Option<u32>,
    token: Option<&Token>,
    timeout: Duration,
) -> Entry {
    let mut entry = Entry {
        service,
        state: "unreachable",
        peer: None,
        file_uid,
        profiles: None,
        method: None,
        note: None,
    };
    let endpoint = match Endpoint::new(run_dir, &entry.service) {
        Ok(e) => e,
        Err(e) => {
            entry.note = Some(e.to_string());
            return entry;
        }
    };
    let found = match probe::probe(&endpoint, token, timeout) {
        Ok(found) => found,
        Err(e) => {
            match e.kind() {
                ConnectFailure::NotFound => entry.state = "stale",
                ConnectFailure::PermissionDenied => entry.note = Some("permission denied".into()),
                ConnectFailure::TimedOut => entry.note = Some("backlog full".into()),
                _ => entry.note = Some(crate::exit::describe(&e)),
            }
            return entry;
        }
    };
    entry.state = "live";
    entry.peer = found.peer;
    match found.handshake {
        None if found.untrusted => entry.note = Some("runs as another user: token not sent".into()),
        None => entry.note = Some("no auth token: handshake skipped".into()),
        Some(Err(HandshakeError::AuthFailed)) => {
            entry.note = Some(format!(
                "auth token rejected (ours: {})",
                token.map(Token::describe).unwrap_or_default()
            ))
        }
        Some(Err(HandshakeError::Timeout)) => {
            entry.note = Some("no answer to HELLO (stopped or overloaded?)".into())
        }
        Some(Err(e)) => {
            entry.note = Some(format!("handshake failed: {}", crate::exit::describe(&e)))
        }
        Some(Ok(ack)) => {
            entry.profiles = Some(profile_names(ack.server_supported_profiles));
            match found.method {
                Some(MethodServed::Served(m)) => entry.method = Some(method_name(m)),
                Some(MethodServed::None) => {
                    entry.note = Some("answers UNSUPPORTED to every method".into())
                }
                Some(MethodServed::Unknown(why)) => entry.note = Some(why),
                None => {}
            }
        }
    }
    entry
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "service": e.service,
        "state": e.state,
        "pid": e.peer.map(|p| p.pid),
        "uid": e.peer.map(|p| p.uid),
        "gid": e.peer.map(|p| p.gid),
        "file_uid": e.file_uid,
        "profiles": e.profiles,
        "method": e.method,
        "note": e.note,
    })
}

fn write_table(out: &mut impl Write, entries: &[Entry]) -> io::Result<()> {
    if entries.is_empty() {
        return writeln!(out, "no endpoints");
    }
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.service.clone(),
                e.state.to_string(),
                e.peer.map_or("-".into(), |p| p.pid.to_string()),
                e.peer
                    .map(|p| p.uid)
                    .or(e.file_uid)
                    .map_or("-".into(), |u| u.to_string()),
                e.profiles
                    .as_ref()
                    .filter(|p| !p.is_empty())
                    .map_or("-".into(), |p| p.join(",")),
                e.method.unwrap_or("-").to_string(),
                e.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "SERVICE", "STATE", "PID", "UID", "PROFILES", "METHOD", "NOTE",
    ];
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if i + 1 < cells.len() {
                let pad = width[i] - cell.chars().count() + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.trim_end().to_string()
    };
    writeln!(out, "{}", line(header))?;
    for row in &rows {
        writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}
