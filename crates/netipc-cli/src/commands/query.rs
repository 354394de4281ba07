//! The cgroups client commands: `snapshot` and `lookup`.

use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;

use netipc::cache::{name_hash, Cgroup, CgroupsCache};
use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::service::ClientError;
use serde_json::json;

use super::{call_failed, client_config, output, prepare, print_json};
use crate::cli::{LookupArgs, SnapshotArgs};
use crate::endpoint::{check_state, connect_failed};
use crate::exit::{describe, CliError, Exit};
use crate::format::{self, Row, SnapshotSummary};
use crate::log;

/// `netipc snapshot`: fetch and print the whole snapshot.
///
/// # Errors
///
/// No token, unusable run directory, no provider, token rejected, or a
/// failed call.
pub fn snapshot(args: &SnapshotArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
    let config = client_config(&args.common, &token).uds_only();
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

/// How `lookup` found its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Through the cache, by hash and name.
    Cache,
    /// By scanning the snapshot: the provider's hash differs from the
    /// name's own.
    ScanByName,
    /// By scanning the snapshot for the hash alone (`--hash` without a
    /// name).
    ScanByHash,
}

/// `netipc lookup NAME` / `netipc lookup --hash HASH`: one cgroup through
/// the Level 3 cache.
///
/// With a name and no `--hash`, the name's own hash is tried first (the
/// cache's O(1) path); when that misses, the snapshot is scanned for the
/// name, since a provider may publish hashes computed otherwise, and a note
/// on stderr says so.
///
/// # Errors
///
/// As for [`snapshot`], plus exit 6 when no cgroup matches.
pub fn lookup(args: &LookupArgs) -> Result<(), CliError> {
    let (token, endpoint) = prepare(&args.common, &args.service)?;
    let config = client_config(&args.common, &token).uds_only();
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
    let name = args.name.as_ref().map(|n| n.as_bytes());
    let (cg, found) = match find(&cache, name, args.hash) {
        Some(hit) => hit,
        None => return Err(not_found(&cache, name, args.hash)),
    };
    if found == Found::ScanByName {
        let name = name.unwrap_or_default();
        log::note(&format!(
            "no cgroup has the name's own hash {}; found \"{}\" by scanning the snapshot (the provider publishes hash {} for it)",
            format::hex32(name_hash(name)),
            format::display_bytes(name),
            format::hex32(cg.hash),
        ));
    }
    if args.json {
        return print_json(&json!({
            "service": endpoint.service(),
            "endpoint": endpoint.to_string(),
            "name": String::from_utf8_lossy(cg.name),
            "hash": cg.hash,
            "hash_hex": format::hex32(cg.hash),
            "options": cg.options,
            "enabled": cg.enabled,
            "path": String::from_utf8_lossy(cg.path),
            "found_by": match found {
                Found::Cache => "hash",
                Found::ScanByName => "name-scan",
                Found::ScanByHash => "hash-scan",
            },
            "generation": cache.generation(),
            "item_count": cache.len(),
        }));
    }
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

/// The cgroup for a name and/or a hash, and how it was found.
fn find<'c>(
    cache: &'c CgroupsCache,
    name: Option<&[u8]>,
    hash: Option<u32>,
) -> Option<(Cgroup<'c>, Found)> {
    match (name, hash) {
        (Some(name), Some(hash)) => cache.lookup(hash, name).map(|c| (c, Found::Cache)),
        (Some(name), None) => cache
            .lookup(name_hash(name), name)
            .map(|c| (c, Found::Cache))
            .or_else(|| {
                cache
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| (c, Found::ScanByName))
            }),
        (None, Some(hash)) => cache
            .iter()
            .find(|c| c.hash == hash)
            .map(|c| (c, Found::ScanByHash)),
        (None, None) => None,
    }
}

/// Exit 6, saying what was searched for and in which snapshot.
fn not_found(cache: &CgroupsCache, name: Option<&[u8]>, hash: Option<u32>) -> CliError {
    let what = match (name, hash) {
        (Some(n), Some(h)) => format!(
            "no cgroup named \"{}\" with hash {}",
            format::display_bytes(n),
            format::hex32(h)
        ),
        (Some(n), None) => format!("no cgroup named \"{}\"", format::display_bytes(n)),
        (None, Some(h)) => format!("no cgroup with hash {}", format::hex32(h)),
        (None, None) => "nothing to look up".to_string(),
    };
    let mut message = format!(
        "{what} in generation {} ({} {})",
        cache.generation(),
        cache.len(),
        format::plural(cache.len(), "cgroup", "cgroups"),
    );
    if let Some(name) = name {
        if name.len() > 1 && name.starts_with(b"/") {
            message.push_str(&format!(
                "; names have no leading slash, try \"{}\"",
                format::display_bytes(&name[1..])
            ));
        }
    }
    CliError::new(Exit::NotFound, message)
}

/// "UDS" or "shared memory" for a session's profile.
pub(crate) fn transport_name(profile: Option<netipc::wire::Profiles>) -> &'static str {
    match profile {
        Some(p) if p.has_shm() => "shared memory",
        Some(_) => "UDS",
        None => "no session",
    }
}
