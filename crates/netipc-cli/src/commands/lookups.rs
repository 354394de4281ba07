//! The lookup services: `netipc serve cgroups-lookup`, `netipc serve
//! apps-lookup`, and the client commands `netipc cgroups-lookup PATH…` and
//! `netipc apps-lookup PID…`.

use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{self, Status};
use netipc::codec::lookup::{Labels, Orchestrator};
use netipc::service::apps_lookup::{AppsLookup, AppsLookupClient};
use netipc::service::cgroups_lookup::{CgroupsLookup, CgroupsLookupClient};
use netipc::service::lookup::{LookupCallError, LookupClient, LOOKUP_RESPONSE_PAYLOAD};
use netipc::service::{ClientConfig, Endpoint, ServerConfig, ServiceKind};

use super::serve::{prepare_run_dir, start, stop_server};
use super::{call_failed, output};
use crate::cgroupfs::ScanError;
use crate::cgroups_source::{CgroupRoots, CgroupsSource, DEFAULT_MIN_RESCAN};
use crate::cli::{AppsLookupArgs, CgroupsLookupArgs, Common, ServeLookupArgs};
use crate::endpoint::{check_run_dir, check_state, endpoint};
use crate::exit::{describe, CliError};
use crate::format::{self, json_string};
use crate::lookup_provider::{apps_handler, cgroups_handler};
use crate::signals::StopFlag;
use crate::token::{self, Token};

/// Endpoint name of the cgroups lookup service.
pub const CGROUPS_LOOKUP_SERVICE: &str = "cgroups-lookup";
/// Endpoint name of the apps lookup service.
pub const APPS_LOOKUP_SERVICE: &str = "apps-lookup";

/// The cgroups source of a lookup provider: the hierarchies of
/// `mountinfo`, indexed once.
///
/// A lookup that misses may rescan once a quarter of the rescan interval
/// (at most 250 ms) has passed since the last scan: the periodic rescans
/// alone would never let a miss rescan, and a path that does not exist
/// only becomes UNKNOWN_PERMANENT through a scan started after it was
/// asked for.
fn cgroups_source(mountinfo: &Path, interval: Duration) -> Result<Arc<CgroupsSource>, CliError> {
    let roots = CgroupRoots::discover(mountinfo).map_err(|e| {
        CliError::failure(format!(
            "cannot find the cgroup hierarchies: {}",
            describe(&e)
        ))
    })?;
    let min_rescan = interval.min(DEFAULT_MIN_RESCAN) / 4;
    let source = Arc::new(CgroupsSource::new(roots, min_rescan));
    if let Err(e) = source.refresh() {
        eprintln!(
            "netipc: cannot scan every cgroup hierarchy: {}; answering what could be read",
            describe(&e)
        );
    }
    Ok(source)
}

/// Runs `netipc serve cgroups-lookup` until a stop is requested.
///
/// # Errors
///
/// No token, an unusable run directory, no cgroup hierarchy, or an
/// endpoint that cannot be bound.
pub fn serve_cgroups(args: &ServeLookupArgs, stop: &StopFlag) -> Result<(), CliError> {
    serve(args, stop, CGROUPS_LOOKUP_SERVICE)
}

/// Runs `netipc serve apps-lookup` until a stop is requested.
///
/// # Errors
///
/// As for [`serve_cgroups`].
pub fn serve_apps(args: &ServeLookupArgs, stop: &StopFlag) -> Result<(), CliError> {
    serve(args, stop, APPS_LOOKUP_SERVICE)
}

fn serve(args: &ServeLookupArgs, stop: &StopFlag, default_service: &str) -> Result<(), CliError> {
    let token = token::resolve(args.common.token)?;
    let run_dir = &args.common.run_dir;
    prepare_run_dir(run_dir)?;
    let service = args.service.as_deref().unwrap_or(default_service);
    let source = cgroups_source(&args.mountinfo, args.interval)?;
    let config = super::serve::session_log(ServerConfig::new(token.auth()), &token)
        .with_response_payload(LOOKUP_RESPONSE_PAYLOAD);
    let server = if default_service == APPS_LOOKUP_SERVICE {
        start(
            run_dir,
            service,
            config,
            apps_handler(&args.proc_root, Arc::clone(&source)),
        )?
    } else {
        start(
            run_dir,
            service,
            config,
            cgroups_handler(Arc::clone(&source)),
        )?
    };
    let index = source.current();
    println!(
        "serving {service} at {}: {} {} indexed, generation {}, rescanning every {}",
        server.socket_path().display(),
        index.len(),
        format::plural(index.len(), "cgroup", "cgroups"),
        index.generation(),
        format::seconds(args.interval),
    );
    println!("auth token {}", token.describe());
    let mut last_failure: Option<String> = None;
    while !stop.sleep(args.interval) {
        let before = source.current().generation();
        match source.refresh() {
            Ok(index) => {
                if last_failure.take().is_some() {
                    eprintln!("netipc: scanning works again");
                }
                if index.generation() != before {
                    println!("generation {}: {} cgroups", index.generation(), index.len());
                }
            }
            Err(e) => report_once(&mut last_failure, &e),
        }
    }
    stop_server(server);
    Ok(())
}

fn report_once(last: &mut Option<String>, e: &ScanError) {
    let text = describe(e);
    if last.as_deref() != Some(text.as_str()) {
        eprintln!("netipc: rescan failed: {text}");
        *last = Some(text);
    }
}

/// A lookup client for `service` in the run directory of `common`,
/// connected (UDS only), with its token and endpoint.
fn connect<K: ServiceKind>(
    common: &Common,
    service: &str,
) -> Result<(LookupClient<K>, Token, Endpoint), CliError> {
    let token = token::resolve(common.token)?;
    let endpoint = endpoint(&common.run_dir, service)?;
    check_run_dir(&endpoint)?;
    let mut client = LookupClient::<K>::new(
        endpoint.clone(),
        super::client_config(common, &token).uds_only(),
    );
    client.refresh();
    check_state(&client.status(), &endpoint, &token)?;
    Ok((client, token, endpoint))
}

/// Writes to a buffered standard output and flushes it.
fn to_stdout(
    write: impl FnOnce(&mut BufWriter<io::StdoutLock<'_>>) -> io::Result<()>,
) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write(&mut out).and_then(|()| out.flush())
}

fn lookup_failed(
    client: &netipc::service::Client<impl netipc::service::ServiceKind>,
    e: &LookupCallError,
    endpoint: &Endpoint,
    token: &Token,
    method: &str,
) -> CliError {
    match e {
        LookupCallError::Call(call) => call_failed(&client.status(), call, endpoint, token, method),
        other => CliError::failure(format!(
            "{method} call to {} failed: {}",
            endpoint.socket_path().display(),
            describe(other)
        )),
    }
}

/// `netipc cgroups-lookup PATH…`
///
/// # Errors
///
/// No token, unusable run directory, no provider, token rejected, or a
/// failed call.
pub fn cgroups_lookup(args: &CgroupsLookupArgs) -> Result<(), CliError> {
    let service = args.service.as_deref().unwrap_or(CGROUPS_LOOKUP_SERVICE);
    let (mut client, token, endpoint) = connect::<CgroupsLookup>(&args.common, service)?;
    let paths: Vec<&[u8]> = args.paths.iter().map(|p| p.as_bytes()).collect();
    let written = match client.call_lookup(&paths) {
        Ok(view) => to_stdout(|out| {
            if args.json {
                write_cgroups_json(out, &view)
            } else {
                write_cgroups_table(out, &view)
            }
        }),
        Err(e) => {
            return Err(lookup_failed(
                &client,
                &e,
                &endpoint,
                &token,
                "CGROUPS_LOOKUP",
            ))
        }
    };
    output(written)
}

/// `netipc apps-lookup PID…`
///
/// # Errors
///
/// As for [`cgroups_lookup()`].
pub fn apps_lookup(args: &AppsLookupArgs) -> Result<(), CliError> {
    let service = args.service.as_deref().unwrap_or(APPS_LOOKUP_SERVICE);
    let (mut client, token, endpoint) = connect::<AppsLookup>(&args.common, service)?;
    let written = match client.call_lookup(&args.pids) {
        Ok(view) => to_stdout(|out| {
            if args.json {
                write_apps_json(out, &view)
            } else {
                write_apps_table(out, &view)
            }
        }),
        Err(e) => return Err(lookup_failed(&client, &e, &endpoint, &token, "APPS_LOOKUP")),
    };
    output(written)
}

/// The specification's name of a CGROUPS_LOOKUP status.
pub fn cgroups_status_name(s: Status) -> &'static str {
    match s {
        Status::Known => "KNOWN",
        Status::UnknownRetryLater => "UNKNOWN_RETRY_LATER",
        Status::UnknownPermanent => "UNKNOWN_PERMANENT",
        Status::PayloadExceeded => "PAYLOAD_EXCEEDED",
        Status::OversizedItem => "OVERSIZED_ITEM",
    }
}

/// The specification's name of an APPS_LOOKUP PID status.
pub fn pid_status_name(s: PidStatus) -> &'static str {
    match s {
        PidStatus::Known => "KNOWN",
        PidStatus::Unknown => "UNKNOWN",
        PidStatus::PayloadExceeded => "PAYLOAD_EXCEEDED",
        PidStatus::OversizedItem => "OVERSIZED_ITEM",
    }
}

/// The specification's name of an APPS_LOOKUP cgroup status.
pub fn cgroup_status_name(s: CgroupStatus) -> &'static str {
    match s {
        CgroupStatus::Known => "KNOWN",
        CgroupStatus::UnknownRetryLater => "UNKNOWN_RETRY_LATER",
        CgroupStatus::UnknownPermanent => "UNKNOWN_PERMANENT",
        CgroupStatus::HostRoot => "HOST_ROOT",
    }
}

fn orchestrator_name(o: Orchestrator) -> String {
    o.name().map_or_else(|| o.0.to_string(), str::to_string)
}

fn labels_text(labels: Labels<'_>) -> String {
    labels
        .map(|l| {
            format!(
                "{}={}",
                format::display_bytes(l.key),
                format::display_bytes(l.value)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn labels_json(labels: Labels<'_>) -> String {
    let pairs: Vec<String> = labels
        .map(|l| format!("{}:{}", json_string(l.key), json_string(l.value)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// The first line of a table: the generation and the item count.
fn write_heading(
    out: &mut impl Write,
    generation: u64,
    len: usize,
    one: &str,
    many: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "generation {}, {} {}",
        generation,
        len,
        format::plural(len, one, many)
    )
}

/// Writes `{"generation":G,"items":[…]}` with one item a line, each
/// written by `item`.
fn write_json_items<W: Write, T>(
    out: &mut W,
    generation: u64,
    items: impl Iterator<Item = T>,
    mut item: impl FnMut(&mut W, T) -> io::Result<()>,
) -> io::Result<()> {
    write!(out, "{{\"generation\":{generation},\"items\":[")?;
    let mut empty = true;
    for (i, it) in items.enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        item(out, it)?;
        empty = false;
    }
    out.write_all(if empty { b"]}\n" } else { b"\n]}\n" })
}

/// Prints a CGROUPS_LOOKUP answer as a table, one row per path.
pub fn write_cgroups_table(
    out: &mut impl Write,
    view: &cgroups_lookup::ResponseView<'_>,
) -> io::Result<()> {
    write_heading(out, view.generation(), view.len(), "path", "paths")?;
    writeln!(
        out,
        "{:<19}  {:<12}  {:<40}  {:<40}  LABELS",
        "STATUS", "ORCHESTRATOR", "NAME", "PATH"
    )?;
    for item in view {
        writeln!(
            out,
            "{:<19}  {:<12}  {:<40}  {:<40}  {}",
            cgroups_status_name(item.status()),
            orchestrator_name(item.orchestrator()),
            format::display_bytes(item.name()),
            format::display_bytes(item.path()),
            labels_text(item.labels())
        )?;
    }
    Ok(())
}

/// Prints a CGROUPS_LOOKUP answer as one JSON object.
pub fn write_cgroups_json(
    out: &mut impl Write,
    view: &cgroups_lookup::ResponseView<'_>,
) -> io::Result<()> {
    write_json_items(out, view.generation(), view.iter(), |out, item| {
        write!(
            out,
            "{{\"path\":{},\"status\":\"{}\",\"orchestrator\":\"{}\",\"name\":{},\"labels\":{}}}",
            json_string(item.path()),
            cgroups_status_name(item.status()),
            orchestrator_name(item.orchestrator()),
            json_string(item.name()),
            labels_json(item.labels())
        )
    })
}

/// Prints an APPS_LOOKUP answer as a table, one row per PID.
pub fn write_apps_table(
    out: &mut impl Write,
    view: &apps_lookup::ResponseView<'_>,
) -> io::Result<()> {
    write_heading(out, view.generation(), view.len(), "pid", "pids")?;
    writeln!(
        out,
        "{:>8}  {:<7}  {:>8}  {:>6}  {:>12}  {:<15}  {:<19}  {:<12}  CGROUP",
        "PID", "STATUS", "PPID", "UID", "STARTTIME", "COMM", "CGROUP_STATUS", "ORCHESTRATOR"
    )?;
    for item in view {
        let known = item.status() == PidStatus::Known;
        let uid = if item.uid() == apps_lookup::UID_UNSET {
            "-".to_string()
        } else {
            item.uid().to_string()
        };
        let cgroup = if item.cgroup_name().is_empty() {
            format::display_bytes(item.cgroup_path())
        } else {
            format::display_bytes(item.cgroup_name())
        };
        writeln!(
            out,
            "{:>8}  {:<7}  {:>8}  {:>6}  {:>12}  {:<15}  {:<19}  {:<12}  {}",
            item.pid(),
            pid_status_name(item.status()),
            item.ppid(),
            uid,
            item.starttime(),
            format::display_bytes(item.comm()),
            if known {
                cgroup_status_name(item.cgroup_status())
            } else {
                "-"
            },
            orchestrator_name(item.orchestrator()),
            cgroup
        )?;
    }
    Ok(())
}

/// Prints an APPS_LOOKUP answer as one JSON object.
pub fn write_apps_json(
    out: &mut impl Write,
    view: &apps_lookup::ResponseView<'_>,
) -> io::Result<()> {
    write_json_items(out, view.generation(), view.iter(), |out, item| {
        let uid = if item.uid() == apps_lookup::UID_UNSET {
            "null".to_string()
        } else {
            item.uid().to_string()
        };
        write!(
            out,
            "{{\"pid\":{},\"status\":\"{}\",\"ppid\":{},\"uid\":{},\"starttime\":{},\"comm\":{},\
             \"cgroup_status\":\"{}\",\"orchestrator\":\"{}\",\"cgroup_path\":{},\"cgroup_name\":{},\"labels\":{}}}",
            item.pid(),
            pid_status_name(item.status()),
            item.ppid(),
            uid,
            item.starttime(),
            json_string(item.comm()),
            cgroup_status_name(item.cgroup_status()),
            orchestrator_name(item.orchestrator()),
            json_string(item.cgroup_path()),
            json_string(item.cgroup_name()),
            labels_json(item.labels())
        )
    })
}

/// The demo's lookup phase: starts `cgroups-lookup` and `apps-lookup`
/// providers on this machine's cgroups and `/proc` in `dir`, asks the
/// first one about a few real cgroups and one that does not exist (over
/// UDS) and the second one about this process, its parent, PID 1 and a PID
/// that does not exist (over shared memory), prints both answers, and stops
/// the providers. Without a cgroup filesystem it says so and returns.
///
/// # Errors
///
/// A provider that cannot start, a failed call, or unwritable output.
pub fn demo(
    out: &mut impl Write,
    dir: &Path,
    token: &Token,
    mountinfo: &Path,
) -> Result<(), CliError> {
    let say = |out: &mut dyn Write, text: &str| output(writeln!(out, "{text}"));
    say(
        out,
        "\n5. lookup services: cgroups-lookup (UDS) and apps-lookup (shared memory)",
    )?;
    let roots = match CgroupRoots::discover(mountinfo) {
        Ok(roots) => roots,
        Err(e) => {
            return say(
                out,
                &format!(
                    "   skipped: no cgroup hierarchy to answer from ({})",
                    describe(&e)
                ),
            )
        }
    };
    let source = Arc::new(CgroupsSource::new(roots, DEFAULT_MIN_RESCAN / 4));
    let _ = source.refresh();
    let config = || ServerConfig::new(token.auth()).with_response_payload(LOOKUP_RESPONSE_PAYLOAD);
    let cg_server = start(
        dir,
        CGROUPS_LOOKUP_SERVICE,
        config(),
        cgroups_handler(Arc::clone(&source)),
    )?;
    let apps_server = start(
        dir,
        APPS_LOOKUP_SERVICE,
        config(),
        apps_handler(crate::apps_source::DEFAULT_PROC_ROOT, Arc::clone(&source)),
    )?;

    let index = source.current();
    let mut paths: Vec<Vec<u8>> = index.keys().take(3).map(<[u8]>::to_vec).collect();
    if let Some(first) = paths.first() {
        let mut missing = first.clone();
        missing.extend_from_slice(b"/netipc-demo-no-such-cgroup");
        paths.push(missing);
    }
    let endpoint_of = |service| endpoint(dir, service);
    let mut cg = CgroupsLookupClient::new(
        endpoint_of(CGROUPS_LOOKUP_SERVICE)?,
        ClientConfig::new(token.auth()).uds_only(),
    );
    cg.refresh();
    check_state(&cg.status(), cg.endpoint(), token)?;
    let ep = cg.endpoint().clone();
    match cg.call_lookup(&paths) {
        Ok(view) => output(write_cgroups_table(out, &view))?,
        Err(e) => return Err(lookup_failed(&cg, &e, &ep, token, "CGROUPS_LOOKUP")),
    }
    // A path the provider's index lacks is "retry later" until a scan that
    // began after the question has not found it either; then it is
    // permanent. Ask again once the provider may rescan.
    if let Some(missing) = paths.last().filter(|_| paths.len() > 1) {
        std::thread::sleep(DEFAULT_MIN_RESCAN / 2);
        say(
            out,
            "
   the missing path, asked again after the provider's rescan interval:",
        )?;
        match cg.call_lookup(std::slice::from_ref(missing)) {
            Ok(view) => output(write_cgroups_table(out, &view))?,
            Err(e) => return Err(lookup_failed(&cg, &e, &ep, token, "CGROUPS_LOOKUP")),
        }
    }

    let me = std::process::id();
    let parent = std::os::unix::process::parent_id();
    let mut apps = AppsLookupClient::new(
        endpoint_of(APPS_LOOKUP_SERVICE)?,
        ClientConfig::new(token.auth()),
    );
    apps.refresh();
    check_state(&apps.status(), apps.endpoint(), token)?;
    let ep = apps.endpoint().clone();
    say(out, "")?;
    match apps.call_lookup(&[me, parent, 1, u32::MAX]) {
        Ok(view) => output(write_apps_table(out, &view))?,
        Err(e) => return Err(lookup_failed(&apps, &e, &ep, token, "APPS_LOOKUP")),
    }
    drop(cg);
    drop(apps);
    cg_server.shutdown();
    apps_server.shutdown();
    Ok(())
}
