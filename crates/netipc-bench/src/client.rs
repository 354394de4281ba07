//! The benchmark clients. Ping-pong, batch and pipeline clients drive a
//! Level 1 [`ClientSession`] directly (the fastest path, with the message
//! ids the driver interface prescribes); snapshot clients use the Level 2
//! typed client, as an application would.

use std::path::Path;

use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::transport::handshake::ClientProposal;
use netipc::transport::{ClientSession, SessionConfig};
use netipc::wire::{BatchView, Header, Method, Profiles, Status};

use crate::common::{
    endpoint, internal_name, mono_ns, platform_label, wait_override, AUTH_TOKEN, BATCH_ITEMS,
    BATCH_PAYLOAD, BATCH_SAMPLES, CONNECT_ATTEMPTS, CONNECT_INTERVAL, MAX_PIPELINE_BATCH_DEPTH,
    NORMAL_REQUEST_PAYLOAD, NORMAL_RESPONSE_PAYLOAD, SHM_ATTACH_TIMEOUT, UNTHROTTLED_SAMPLES,
};
use crate::measure::{sample_capacity, BatchSizes, Outcome, RateLimiter, Samples, Window};

/// The traffic a client subcommand generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// One INCREMENT per iteration.
    PingPong,
    /// One batch of 2…1000 INCREMENT items per iteration.
    Batch,
    /// One CGROUPS_SNAPSHOT call per iteration (Level 2).
    Snapshot,
    /// `depth` INCREMENT requests, then `depth` replies.
    Pipeline,
    /// `depth` INCREMENT batches, then `depth` replies.
    PipelineBatch,
}

/// A client subcommand.
#[derive(Debug, Clone, Copy)]
pub struct ClientSpec {
    /// Traffic pattern.
    pub traffic: Traffic,
    /// Proposed (and preferred) profiles: 0x01 or 0x03.
    pub profiles: Profiles,
    /// Scenario label, without the `-d<depth>` suffix of pipelines.
    pub label: &'static str,
}

impl ClientSpec {
    /// The spec of a client subcommand, if `name` is one (`np-…` instead
    /// of `uds-…` on Windows).
    pub fn from_subcommand(name: &str) -> Option<ClientSpec> {
        let uds = Profiles::BASELINE;
        let shm = Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);
        let (traffic, profiles, label) = match internal_name(name)?.as_str() {
            "uds-ping-pong-client" => (Traffic::PingPong, uds, "uds-ping-pong"),
            "shm-ping-pong-client" => (Traffic::PingPong, shm, "shm-ping-pong"),
            "uds-batch-ping-pong-client" => (Traffic::Batch, uds, "uds-batch-ping-pong"),
            "shm-batch-ping-pong-client" => (Traffic::Batch, shm, "shm-batch-ping-pong"),
            "snapshot-client" => (Traffic::Snapshot, uds, "snapshot-baseline"),
            "snapshot-shm-client" => (Traffic::Snapshot, shm, "snapshot-shm"),
            "uds-pipeline-client" => (Traffic::Pipeline, uds, "uds-pipeline"),
            "uds-pipeline-batch-client" => (Traffic::PipelineBatch, uds, "uds-pipeline-batch"),
            _ => return None,
        };
        Some(ClientSpec {
            traffic,
            profiles,
            label,
        })
    }

    /// True for the pipeline clients, which take a mandatory depth.
    pub fn needs_depth(&self) -> bool {
        matches!(self.traffic, Traffic::Pipeline | Traffic::PipelineBatch)
    }

    /// The depth actually used: pipeline-batch rounds are capped at 128.
    pub fn effective_depth(&self, depth: u32) -> u32 {
        match self.traffic {
            Traffic::PipelineBatch => depth.min(MAX_PIPELINE_BATCH_DEPTH),
            _ => depth,
        }
    }

    /// The scenario label printed in column 1 (`np-…` instead of `uds-…`
    /// on Windows).
    pub fn scenario_label(&self, depth: u32) -> String {
        let label = platform_label(self.label);
        if self.needs_depth() {
            format!("{label}-d{}", self.effective_depth(depth))
        } else {
            label
        }
    }

    /// Latency sample capacity for this traffic.
    fn sample_capacity(&self, rate: u64, duration_sec: u64) -> usize {
        match self.traffic {
            Traffic::PipelineBatch => BATCH_SAMPLES as usize,
            Traffic::Batch => sample_capacity(rate, duration_sec, BATCH_SAMPLES),
            _ => sample_capacity(rate, duration_sec, UNTHROTTLED_SAMPLES),
        }
    }

    /// True when the session carries batches (batch limits are proposed).
    fn batched(&self) -> bool {
        matches!(self.traffic, Traffic::Batch | Traffic::PipelineBatch)
    }

    /// The Level 1 HELLO proposal: 4096/1 + 65536 normally, 52096/1000 +
    /// 52096 for batches.
    fn proposal(&self) -> ClientProposal {
        let (req, items, resp) = if self.batched() {
            (BATCH_PAYLOAD, BATCH_ITEMS, BATCH_PAYLOAD)
        } else {
            (NORMAL_REQUEST_PAYLOAD, 1, NORMAL_RESPONSE_PAYLOAD)
        };
        ClientProposal {
            supported: self.profiles,
            preferred: self.profiles,
            max_request_payload: req,
            max_request_batch_items: items,
            max_response_payload: resp,
            max_response_batch_items: items,
            auth_token: AUTH_TOKEN,
            packet_size: 0,
        }
    }
}

/// Arguments of a client run.
#[derive(Debug, Clone, Copy)]
pub struct RunArgs {
    /// Measurement window in seconds.
    pub duration_sec: u64,
    /// Iterations per second; 0 = unthrottled.
    pub target_rps: u64,
    /// Pipeline depth (already ≥ 1; capped later for pipeline-batch).
    pub depth: u32,
}

/// Counters of a run.
#[derive(Debug, Default)]
struct Tally {
    /// Requests, items or snapshots completed.
    count: u64,
    /// Errors of any kind.
    errors: u64,
    /// First error, for stderr.
    first_error: Option<String>,
    /// Set when an I/O error ended the run early.
    aborted: bool,
}

impl Tally {
    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// Runs a client subcommand; prints the CSV line and returns the exit code.
pub fn run(spec: ClientSpec, run_dir: &Path, service: &str, args: RunArgs) -> i32 {
    let depth = spec.effective_depth(args.depth.max(1));
    let label = spec.scenario_label(depth);
    let mut samples =
        Samples::with_capacity(spec.sample_capacity(args.target_rps, args.duration_sec));
    let mut tally = Tally::default();

    let window = if spec.traffic == Traffic::Snapshot {
        match connect_l2(spec, run_dir, service) {
            Ok(mut client) => {
                let window = Window::start(args.duration_sec);
                snapshot_loop(
                    &mut client,
                    &window,
                    args.target_rps,
                    &mut samples,
                    &mut tally,
                );
                window
            }
            Err(e) => {
                eprintln!("netipc-bench: {label}: {e}");
                return 1;
            }
        }
    } else {
        match connect_l1(spec, run_dir, service) {
            Ok(mut session) => {
                eprintln!(
                    "netipc-bench: {label}: session {} profile 0x{:02x}",
                    session.negotiated().session_id,
                    session.profile().0
                );
                let window = Window::start(args.duration_sec);
                let mut limiter = RateLimiter::new(args.target_rps);
                let s = &mut session;
                match spec.traffic {
                    Traffic::PingPong => {
                        ping_pong(s, &window, &mut limiter, &mut samples, &mut tally)
                    }
                    Traffic::Batch => batch(s, &window, &mut limiter, &mut samples, &mut tally),
                    Traffic::Pipeline => {
                        pipeline(s, depth, &window, &mut limiter, &mut samples, &mut tally)
                    }
                    Traffic::PipelineBatch => {
                        pipeline_batch(s, depth, &window, &mut limiter, &mut samples, &mut tally)
                    }
                    Traffic::Snapshot => unreachable!("handled above"),
                }
                window
            }
            Err(e) => {
                eprintln!("netipc-bench: {label}: {e}");
                return 1;
            }
        }
    };
    let (wall, cpu_pct) = window.finish();
    let kept = samples.len();
    let outcome = Outcome::new(label.clone(), tally.count, wall, &mut samples, cpu_pct);
    println!("{}", outcome.csv());
    eprintln!(
        "netipc-bench: {label}: {} in {wall:.3} s, {kept} latency samples, {} errors{}",
        tally.count,
        tally.errors,
        if tally.aborted {
            " (run ended by an I/O error)"
        } else {
            ""
        }
    );
    if let Some(e) = &tally.first_error {
        eprintln!("netipc-bench: {label}: first error: {e}");
    }
    if tally.errors > 0 {
        1
    } else {
        0
    }
}

/// Connects at Level 1: up to 200 attempts, 10 ms apart.
fn connect_l1(spec: ClientSpec, run_dir: &Path, service: &str) -> Result<ClientSession, String> {
    let endpoint = endpoint(run_dir, service)?;
    let mut config =
        SessionConfig::new(spec.proposal()).with_shm_attach_timeout(SHM_ATTACH_TIMEOUT);
    if let Some(wait) = wait_override() {
        config = config.with_wait(wait);
    }
    let mut last = String::new();
    for attempt in 0..CONNECT_ATTEMPTS {
        match ClientSession::connect(&endpoint, &config) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
        if attempt + 1 < CONNECT_ATTEMPTS {
            std::thread::sleep(CONNECT_INTERVAL);
        }
    }
    Err(format!(
        "cannot connect to {service} in {} after {CONNECT_ATTEMPTS} attempts: {last}",
        run_dir.display()
    ))
}

/// Connects the Level 2 snapshot client: up to 200 refreshes, 10 ms apart.
fn connect_l2(
    spec: ClientSpec,
    run_dir: &Path,
    service: &str,
) -> Result<CgroupsSnapshotClient, String> {
    let mut config = netipc::service::ClientConfig::new(AUTH_TOKEN);
    config = config.with_profiles(spec.profiles, spec.profiles);
    if let Some(wait) = wait_override() {
        config = config.with_wait(wait);
    }
    let mut client = CgroupsSnapshotClient::new(endpoint(run_dir, service)?, config);
    for attempt in 0..CONNECT_ATTEMPTS {
        client.refresh();
        if client.ready() {
            let status = client.status();
            eprintln!(
                "netipc-bench: {}: session {:?} profile {:?}",
                spec.label, status.session_id, status.profile
            );
            return Ok(client);
        }
        if attempt + 1 < CONNECT_ATTEMPTS {
            std::thread::sleep(CONNECT_INTERVAL);
        }
    }
    let status = client.status();
    Err(format!(
        "cannot connect to {service} in {} after {CONNECT_ATTEMPTS} attempts: state {}, {}",
        run_dir.display(),
        status.state,
        status.last_error.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// The INCREMENT value of a reply payload (8 bytes or more), as the
/// driver contract checks it.
#[inline]
fn read_u64(payload: &[u8]) -> Option<u64> {
    netipc::codec::increment::decode(payload).ok()
}

/// uds/shm-ping-pong: one INCREMENT per iteration, counter chain checked.
fn ping_pong(
    session: &mut ClientSession,
    window: &Window,
    limiter: &mut RateLimiter,
    samples: &mut Samples,
    tally: &mut Tally,
) {
    let mut counter: u64 = 0;
    while window.open() {
        limiter.wait();
        let t0 = mono_ns();
        let header = Header::request(Method::Increment, 8, counter.wrapping_add(1));
        if let Err(e) = session.send_request(&header, &counter.to_ne_bytes()) {
            tally.error(|| format!("send: {e}"));
            tally.aborted = true;
            return;
        }
        if let Err(e) = session.recv_response() {
            tally.error(|| format!("receive: {e}"));
            tally.aborted = true;
            return;
        }
        if let Some(v) = read_u64(session.payload()) {
            if v != counter.wrapping_add(1) {
                tally.error(|| format!("counter chain: sent {counter}, got {v}"));
            }
        }
        samples.push(mono_ns() - t0);
        tally.count += 1;
        counter = counter.wrapping_add(1);
    }
}

/// The directory of a batch of `n` 8-byte items: entry i = (8·i, 8); the
/// first n entries of a 1000-entry table serve every batch size.
fn batch_directory() -> Vec<u8> {
    let mut dir = Vec::with_capacity(BATCH_ITEMS as usize * 8);
    for i in 0..BATCH_ITEMS {
        dir.extend_from_slice(&(i * 8).to_ne_bytes());
        dir.extend_from_slice(&8u32.to_ne_bytes());
    }
    dir
}

/// Encodes a batch of `bs` items `first + i` into `buf`.
#[inline]
fn encode_batch(buf: &mut Vec<u8>, dir: &[u8], first: u64, bs: u32) {
    buf.clear();
    buf.extend_from_slice(&dir[..bs as usize * 8]);
    for i in 0..u64::from(bs) {
        buf.extend_from_slice(&first.wrapping_add(i).to_ne_bytes());
    }
}

/// uds/shm-batch-ping-pong: one batch of 2…1000 items per iteration; every
/// reply item must be its request item + 1.
fn batch(
    session: &mut ClientSession,
    window: &Window,
    limiter: &mut RateLimiter,
    samples: &mut Samples,
    tally: &mut Tally,
) {
    let dir = batch_directory();
    let mut sizes = BatchSizes::new();
    let mut buf = Vec::with_capacity(BATCH_PAYLOAD as usize);
    let mut counter: u64 = 0;
    while window.open() {
        limiter.wait();
        let bs = sizes.next_size();
        let t0 = mono_ns();
        encode_batch(&mut buf, &dir, counter, bs);
        let header = Header::batch_request(
            Method::Increment,
            buf.len() as u32,
            bs,
            counter.wrapping_add(1),
        );
        if let Err(e) = session.send_request(&header, &buf) {
            tally.error(|| format!("send of a {bs}-item batch: {e}"));
            tally.aborted = true;
            return;
        }
        let reply = match session.recv_response() {
            Ok(h) => h,
            Err(e) => {
                tally.error(|| format!("receive of a {bs}-item batch: {e}"));
                tally.aborted = true;
                return;
            }
        };
        if reply.code != Method::Increment.code()
            || reply.transport_status != Status::Ok.code()
            || reply.item_count != bs
        {
            tally.error(|| {
                format!(
                    "batch reply header: code {}, status {}, {} items for {bs}",
                    reply.code, reply.transport_status, reply.item_count
                )
            });
        } else {
            match BatchView::new(session.payload(), bs) {
                Ok(view) => {
                    let mut bad = 0u64;
                    for (i, item) in view.iter().enumerate() {
                        let expect = counter.wrapping_add(i as u64 + 1);
                        if read_u64(item) != Some(expect) {
                            bad += 1;
                        }
                    }
                    if bad > 0 {
                        tally.error(|| format!("{bad} wrong items in a {bs}-item batch reply"));
                        tally.errors += bad - 1;
                    }
                    samples.push(mono_ns() - t0);
                    tally.count += u64::from(bs);
                }
                Err(e) => tally.error(|| format!("batch reply does not decode: {e}")),
            }
        }
        counter = counter.wrapping_add(u64::from(bs));
    }
}

/// `uds-pipeline-d<depth>`: `depth` requests back to back, then `depth`
/// replies, each checked against the counter chain in arrival order.
fn pipeline(
    session: &mut ClientSession,
    depth: u32,
    window: &Window,
    limiter: &mut RateLimiter,
    samples: &mut Samples,
    tally: &mut Tally,
) {
    let mut counter: u64 = 0;
    while window.open() {
        limiter.wait();
        let t0 = mono_ns();
        for d in 0..u64::from(depth) {
            let value = counter.wrapping_add(d);
            let header = Header::request(Method::Increment, 8, value.wrapping_add(1));
            if let Err(e) = session.send_request(&header, &value.to_ne_bytes()) {
                tally.error(|| format!("send: {e}"));
                tally.aborted = true;
                return;
            }
        }
        for d in 0..u64::from(depth) {
            if let Err(e) = session.recv_response() {
                tally.error(|| format!("receive: {e}"));
                tally.aborted = true;
                samples.push(mono_ns() - t0);
                return;
            }
            if let Some(v) = read_u64(session.payload()) {
                let expect = counter.wrapping_add(d + 1);
                if v != expect {
                    tally.error(|| format!("pipelined reply {d}: expected {expect}, got {v}"));
                }
            }
            tally.count += 1;
        }
        samples.push(mono_ns() - t0);
        counter = counter.wrapping_add(u64::from(depth));
    }
}

/// `uds-pipeline-batch-d<depth>`: `depth` batches of random size back to
/// back, then `depth` replies; replies are counted, not checked.
fn pipeline_batch(
    session: &mut ClientSession,
    depth: u32,
    window: &Window,
    limiter: &mut RateLimiter,
    samples: &mut Samples,
    tally: &mut Tally,
) {
    let dir = batch_directory();
    let mut sizes = BatchSizes::new();
    let mut buf = Vec::with_capacity(BATCH_PAYLOAD as usize);
    let mut sent = vec![0u32; depth as usize];
    let mut counter: u64 = 0;
    while window.open() {
        limiter.wait();
        let t0 = mono_ns();
        for (d, slot) in sent.iter_mut().enumerate() {
            let bs = sizes.next_size();
            encode_batch(&mut buf, &dir, counter, bs);
            let id = counter.wrapping_add(1 + d as u64);
            let header = Header::batch_request(Method::Increment, buf.len() as u32, bs, id);
            if let Err(e) = session.send_request(&header, &buf) {
                tally.error(|| format!("send of a {bs}-item batch: {e}"));
                tally.aborted = true;
                return;
            }
            *slot = bs;
            counter = counter.wrapping_add(u64::from(bs));
        }
        for &bs in &sent {
            if let Err(e) = session.recv_response() {
                tally.error(|| format!("receive: {e}"));
                tally.aborted = true;
                samples.push(mono_ns() - t0);
                return;
            }
            tally.count += u64::from(bs);
        }
        samples.push(mono_ns() - t0);
    }
}

/// snapshot-baseline / snapshot-shm: one Level 2 snapshot call per
/// iteration; the decoded view must hold 16 items.
fn snapshot_loop(
    client: &mut CgroupsSnapshotClient,
    window: &Window,
    target_rps: u64,
    samples: &mut Samples,
    tally: &mut Tally,
) {
    let mut limiter = RateLimiter::new(target_rps);
    while window.open() {
        limiter.wait();
        let t0 = mono_ns();
        let items = match client.call_snapshot() {
            Ok(view) => view.item_count(),
            Err(e) => {
                tally.error(|| format!("snapshot call: {e}"));
                client.refresh();
                continue;
            }
        };
        if items != crate::snapshot::ITEMS as usize {
            tally.error(|| format!("snapshot with {items} items instead of 16"));
        }
        samples.push(mono_ns() - t0);
        tally.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_depths() {
        let p = ClientSpec::from_subcommand("uds-pipeline-batch-client").unwrap();
        assert!(p.needs_depth());
        assert_eq!(p.scenario_label(500), "uds-pipeline-batch-d128");
        assert_eq!(p.scenario_label(16), "uds-pipeline-batch-d16");
        let p = ClientSpec::from_subcommand("uds-pipeline-client").unwrap();
        assert_eq!(p.scenario_label(500), "uds-pipeline-d500");
        let s = ClientSpec::from_subcommand("snapshot-client").unwrap();
        assert_eq!(s.scenario_label(1), "snapshot-baseline");
        assert!(!s.needs_depth());
        let s = ClientSpec::from_subcommand("snapshot-shm-client").unwrap();
        assert_eq!(s.scenario_label(1), "snapshot-shm");
        assert_eq!(s.profiles.0, 0x03);
        assert!(ClientSpec::from_subcommand("lookup-bench").is_none());
    }

    #[test]
    fn proposals() {
        let b = ClientSpec::from_subcommand("shm-batch-ping-pong-client")
            .unwrap()
            .proposal();
        assert_eq!(
            (
                b.max_request_payload,
                b.max_request_batch_items,
                b.max_response_payload
            ),
            (52096, 1000, 52096)
        );
        assert_eq!(b.supported.0, 0x03);
        assert_eq!(b.preferred.0, 0x03);
        assert_eq!(b.auth_token, AUTH_TOKEN);
        let n = ClientSpec::from_subcommand("uds-ping-pong-client")
            .unwrap()
            .proposal();
        assert_eq!(
            (
                n.max_request_payload,
                n.max_request_batch_items,
                n.max_response_payload
            ),
            (4096, 1, 65536)
        );
        assert_eq!(n.supported.0, 0x01);
    }

    #[test]
    fn sample_capacities() {
        let pb = ClientSpec::from_subcommand("uds-pipeline-batch-client").unwrap();
        assert_eq!(pb.sample_capacity(1000, 5), 2_000_000);
        let b = ClientSpec::from_subcommand("uds-batch-ping-pong-client").unwrap();
        assert_eq!(b.sample_capacity(0, 5), 2_000_000);
        assert_eq!(b.sample_capacity(1000, 5), 5000);
        let p = ClientSpec::from_subcommand("uds-pipeline-client").unwrap();
        assert_eq!(p.sample_capacity(0, 5), 5_000_000);
    }

    #[test]
    fn batch_encoding_matches_the_library_builder() {
        let dir = batch_directory();
        for bs in [2u32, 3, 598, 1000] {
            let mut ours = Vec::new();
            encode_batch(&mut ours, &dir, 40, bs);
            let mut theirs = Vec::new();
            let mut b = netipc::wire::BatchBuilder::new(&mut theirs, bs).unwrap();
            for i in 0..u64::from(bs) {
                b.push(&(40 + i).to_ne_bytes()).unwrap();
            }
            b.finish().unwrap();
            assert_eq!(ours, theirs);
            assert_eq!(ours.len(), 16 * bs as usize);
            let view = BatchView::new(&ours, bs).unwrap();
            assert_eq!(read_u64(view.get(1).unwrap()), Some(41));
        }
    }
}
