//! The client commands: `snapshot`, `lookup`, `ping` and `status`.

use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use netipc::cache::{name_hash, CgroupsCache};
use netipc::codec::increment as increment_codec;
use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::service::increment::IncrementClient;
use netipc::service::ClientError;
use netipc::service::{ClientConfig, Endpoint};
use netipc::transport::{ClientProposal, ClientSession, SessionConfig};
use netipc::wire::{Header, Method, Profiles};

use super::{call_failed, output};
use crate::cli::{Common, LookupArgs, PingArgs, SnapshotArgs, StatusArgs};
use crate::endpoint::{check_run_dir, check_state, connect_failed, endpoint};
use crate::exit::{describe, CliError, Exit};
use crate::format::{self, Row, SnapshotSummary};
use crate::latency::Samples;
use crate::token::{self, Token};

/// Round trips made before `ping` starts measuring.
const PING_WARMUP: u32 = 100;

/// Token, endpoint and run-dir check shared by the client commands.
fn prepare(common: &Common, service: &str) -> Result<(Token, Endpoint), CliError> {
    let token = token::resolve(common.token)?;
    let endpoint = endpoint(&common.run_dir, service)?;
    check_run_dir(&endpoint)?;
    Ok((token, endpoint))
}

/// `netipc snapshot`: fetch and print the whole snapshot.
///
/// # Errors
///
/// No token, unusable run directory, no provider, token rejected, or a
/// failed call.
pub fn snapshot(args: &SnapshotArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
    let config = ClientConfig::new(token.auth()).uds_only();
    let mut client = CgroupsSnapshotClient::new(endpoint.clone(), config);
    client.refresh();
    let status = client.status();
    check_state(&status, &endpoint, &token)?;

    let fetched = client.call_snapshot().map(|view| {
        let summary = SnapshotSummary {
            generation: view.generation(),
            systemd_enabled: view.systemd_enabled(),
            item_count: view.item_count(),
        };
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        let rows = view.iter().map(|i| i.item());
        let written = if args.json {
            format::write_json(&mut out, &summary, rows)
        } else {
            let rows: Vec<Row<'_>> = rows.collect();
            format::write_summary(&mut out, &summary)
                .and_then(|()| format::write_table(&mut out, &rows, None, ""))
        };
        written.and_then(|()| out.flush())
    });
    match fetched {
        Ok(written) => output(written),
        Err(e) => {
            let status = client.status();
            Err(call_failed(
                &status,
                &e,
                &endpoint,
                &token,
                "CGROUPS_SNAPSHOT",
            ))
        }
    }
}

/// `netipc lookup NAME`: one cgroup through the Level 3 cache.
///
/// # Errors
///
/// As for [`snapshot`], plus exit 6 when no cgroup has that name.
pub fn lookup(args: &LookupArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
    let config = ClientConfig::new(token.auth()).uds_only();
    let mut cache = CgroupsCache::new(endpoint.clone(), config);
    match cache.refresh() {
        Ok(()) => {}
        Err(ClientError::Connect(e)) => return Err(connect_failed(&e, &endpoint, &token)),
        Err(ClientError::Call(e)) => {
            let status = cache.client().status();
            return Err(call_failed(
                &status,
                &e,
                &endpoint,
                &token,
                "CGROUPS_SNAPSHOT",
            ));
        }
        Err(other) => {
            return Err(CliError::failure(format!(
                "cache refresh from {endpoint} failed: {}",
                describe(&other)
            )))
        }
    }
    let name = args.name.as_bytes();
    let hash = name_hash(name);
    let Some(cg) = cache.lookup(hash, name) else {
        let mut message = format!(
            "no cgroup named \"{}\" in generation {} ({} {})",
            format::display_bytes(name),
            cache.generation(),
            cache.len(),
            format::plural(cache.len(), "cgroup", "cgroups"),
        );
        if name.len() > 1 && name.starts_with(b"/") {
            message.push_str(&format!(
                "; names have no leading slash, try \"{}\"",
                format::display_bytes(&name[1..])
            ));
        }
        return Err(CliError::new(Exit::NotFound, message));
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(writeln!(
        out,
        "name        {}\nhash        {}\noptions     {:#x}\nenabled     {}\npath        {}\nsnapshot    generation {}, {} {}",
        format::display_bytes(cg.name),
        format::hex32(cg.hash),
        cg.options,
        cg.enabled,
        format::display_bytes(cg.path),
        cache.generation(),
        cache.len(),
        format::plural(cache.len(), "cgroup", "cgroups"),
    ))
}

/// `netipc ping [SERVICE]`: time INCREMENT round trips.
///
/// # Errors
///
/// As for [`snapshot`], or when the endpoint does not answer INCREMENT
/// correctly.
pub fn ping(args: &PingArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
    let mut config = ClientConfig::new(token.auth());
    if !args.shm {
        config = config.uds_only();
    }
    let mut client = IncrementClient::new(endpoint.clone(), config);
    client.refresh();
    let status = client.status();
    check_state(&status, &endpoint, &token)?;
    let transport = transport_name(status.profile);

    let fail = |client: &IncrementClient, e| {
        let status = client.status();
        call_failed(&status, &e, &endpoint, &token, "INCREMENT")
    };
    let mut value = 0u64;
    let mut samples = Samples::with_capacity(args.count as usize);
    for i in 0..PING_WARMUP + args.count {
        let started = Instant::now();
        let answer = match client.call(value) {
            Ok(a) => a,
            Err(e) => return Err(fail(&client, e)),
        };
        let took = started.elapsed();
        if answer != value.wrapping_add(1) {
            return Err(CliError::failure(format!(
                "provider at {} answered {answer} to INCREMENT {value}",
                endpoint
            )));
        }
        if i >= PING_WARMUP {
            samples.push(took);
        }
        value = answer;
    }
    let Some(summary) = samples.summary() else {
        return Ok(());
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(writeln!(
        out,
        "{} INCREMENT round trips to {} over {transport}\n{}  mean {} ({} calls/s)",
        format::count(summary.count as u64),
        endpoint,
        summary.line(),
        format::duration(summary.mean),
        format::count(summary.per_second() as u64),
    ))
}

/// `netipc status [SERVICE]`: Level 1 connect, handshake result, one round
/// trip.
///
/// # Errors
///
/// As for [`snapshot`].
pub fn status(args: &StatusArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
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
    });
    let started = Instant::now();
    let mut session = ClientSession::connect(&endpoint, &config)
        .map_err(|e| connect_failed(&e, &endpoint, &token))?;
    let connected = started.elapsed();
    let ack = *session.negotiated();

    // Any answer is a round trip: an endpoint of another method answers
    // UNSUPPORTED, which is just as good for timing.
    let payload = increment_codec::encode(1);
    let request = Header::request(Method::Increment, payload.len() as u32, 1);
    let started = Instant::now();
    let response = session.call(&request, &payload).map_err(|e| {
        CliError::failure(format!("round trip to {endpoint} failed: {}", describe(&e)))
    })?;
    let round_trip = started.elapsed();
    let answered = match response.status() {
        Ok(s) => s.to_string(),
        Err(_) => format!("unknown status {}", response.transport_status),
    };

    let items = |n: u32| format!("{n} {}", format::plural(n as usize, "item", "items"));
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(writeln!(
        out,
        "endpoint        {}\n\
         session id      {}\n\
         profile         {} (offered {}, server supports {})\n\
         request limit   {} bytes, {} per batch\n\
         response limit  {} bytes, {} per batch\n\
         packet size     {} bytes\n\
         handshake       {} (connect + HELLO/HELLO_ACK{})\n\
         round trip      {} (one INCREMENT request, answered {answered})",
        endpoint,
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
    ))
}

/// "UDS" or "shared memory" for a session's profile.
pub(crate) fn transport_name(profile: Option<Profiles>) -> &'static str {
    match profile {
        Some(p) if p.has_shm() => "shared memory",
        Some(_) => "UDS",
        None => "no session",
    }
}
