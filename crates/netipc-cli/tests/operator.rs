//! The operator's side of `netipc`: discovery (`list`), peer details,
//! `--json` on every command, `--timeout`, `token`, the session log of
//! `serve`, ping's Ctrl-C statistics, and errors that say what to fix.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use netipc::auth::AuthToken;
use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder};
use netipc::service::{cgroups, Endpoint, ManagedServer, ServerConfig};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_netipc");
const TOKEN: &str = "0x5eed";
const TOKEN_VALUE: u64 = 0x5eed;
const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";

fn netipc() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID")
        .timeout(Duration::from_secs(30));
    cmd
}

fn fingerprint(token: u64) -> String {
    format!("{:04x}", AuthToken::new(token).fingerprint())
}

/// Waits (at most 20 s) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A background process whose stdout and stderr go to files; killed (after
/// a SIGCONT, in case a test stopped it) when dropped.
struct Background {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    fn spawn(dir: &Path, name: &str, args: &[&str]) -> Background {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = Command::new(BIN)
            .args(args)
            .env_remove("NETDATA_INVOCATION_ID")
            .env_remove("INVOCATION_ID")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Background {
            child: Some(child),
            out,
            err,
        }
    }

    /// `netipc serve increment` in `run`, waiting until it serves.
    fn serve(dir: &Path, run: &Path, extra: &[&str]) -> Background {
        let mut args = vec!["serve", "increment", "--run-dir", run.to_str().unwrap()];
        args.extend(extra);
        let b = Background::spawn(dir, "serve", &args);
        wait_until("the provider", || b.stdout().contains("auth token"));
        b
    }

    fn pid(&self) -> Pid {
        Pid::from_child(self.child.as_ref().unwrap())
    }

    fn signal(&self, s: Signal) {
        kill_process(self.pid(), s).unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("process did not exit within 20 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stdout(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill_process(Pid::from_child(&child), Signal::CONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// stderr of a failed command: exactly one `netipc: ` line.
fn one_line(out: &std::process::Output) -> String {
    let text = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert!(text.starts_with("netipc: "), "{text:?}");
    text.trim_end().to_string()
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one valid JSON object")
}

fn run_dir(tmp: &TempDir) -> PathBuf {
    let run = tmp.path().join("run");
    fs::create_dir_all(&run).unwrap();
    run
}

#[test]
fn wrong_token_on_both_sides_shows_fingerprints() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let mut p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    assert!(
        p.stdout().contains(&format!(
            "auth token from --token, fingerprint {}",
            fingerprint(TOKEN_VALUE)
        )),
        "{}",
        p.stdout()
    );
    let out = netipc()
        .args(["ping", "--token", "0xbad", "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        one_line(&out).ends_with(&format!(
            "rejected our auth token (token from --token, fingerprint {})",
            fingerprint(0xbad)
        )),
        "{out:?}"
    );
    let expected = format!(
        "refused: the client's auth token differs from ours (token from --token, fingerprint {})",
        fingerprint(TOKEN_VALUE)
    );
    wait_until("the refusal in the log", || p.stderr().contains(&expected));
    // A good client is logged as accepted.
    netipc()
        .args(["ping", "-c", "1", "--token", TOKEN, "--run-dir"])
        .arg(&run)
        .assert()
        .success();
    wait_until("the acceptance", || {
        p.stderr().contains("accepted (UDS_SEQPACKET)")
    });
    p.signal(Signal::TERM);
    assert!(p.wait().success());

    // -q: no session log at all.
    let mut quiet = Background::serve(tmp.path(), &run, &["--token", TOKEN, "-q"]);
    netipc()
        .args(["ping", "--token", "0xbad", "--run-dir"])
        .arg(&run)
        .assert()
        .code(4);
    netipc()
        .args(["ping", "-c", "1", "--token", TOKEN, "--run-dir"])
        .arg(&run)
        .assert()
        .success();
    quiet.signal(Signal::TERM);
    assert!(quiet.wait().success());
    assert_eq!(quiet.stderr(), "");
}

#[test]
fn list_shows_live_and_stale_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(run.join("gone.sock")).unwrap());

    let out = netipc()
        .args(["list", "--json", "--token", TOKEN, "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["run_dir"], run.to_str().unwrap());
    assert_eq!(v["token"]["fingerprint"], fingerprint(TOKEN_VALUE));
    let eps = v["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2, "{v}");
    let (gone, live) = (&eps[0], &eps[1]);
    assert_eq!(gone["service"], "gone");
    assert_eq!(gone["state"], "stale");
    assert_eq!(gone["pid"], Value::Null);
    assert_eq!(live["service"], "increment");
    assert_eq!(live["state"], "live");
    assert_eq!(live["pid"], p.pid().as_raw_nonzero().get());
    assert_eq!(live["uid"], rustix::process::getuid().as_raw());
    assert_eq!(live["method"], "INCREMENT");
    assert_eq!(live["profiles"][0], "UDS_SEQPACKET");

    // The table, and without a token: owners only, with a note.
    let out = netipc()
        .args(["list", "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("SERVICE"), "{text}");
    assert!(lines.next().unwrap().starts_with("gone "), "{text}");
    let live_line = lines.next().unwrap();
    assert!(live_line.starts_with("increment  live "), "{text}");
    assert!(
        live_line.contains(&p.pid().as_raw_nonzero().get().to_string()),
        "{text}"
    );
    assert!(live_line.contains("no auth token"), "{text}");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("owners only"));
}

#[test]
fn json_on_every_command_that_prints_data() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let _p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    let r = run.to_str().unwrap();
    let common = ["--token", TOKEN, "--run-dir", r];

    let out = netipc()
        .args(["status", "--service", "increment", "--json"])
        .args(common)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["method"], "INCREMENT");
    assert_eq!(v["answered"], "OK");
    assert_eq!(v["profile"], "UDS_SEQPACKET");
    assert!(v["peer"]["pid"].as_i64().unwrap() > 0);
    assert!(v["limits"]["packet_size"].as_u64().unwrap() > 32);

    let out = netipc()
        .args(["ping", "-c", "5", "--json"])
        .args(common)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["count"], 5);
    assert_eq!(v["interrupted"], false);
    assert!(v["p50_ns"].as_u64().unwrap() > 0);

    let out = netipc()
        .args(["list", "--json"])
        .args(common)
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["endpoints"][0]["service"], "increment");

    let out = netipc()
        .args(["token", "--json", "--reveal", "--token", TOKEN])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["source"], "flag");
    assert_eq!(v["token"], "0x0000000000005eed");
    assert_eq!(v["fingerprint"], fingerprint(TOKEN_VALUE));

    // lookup and snapshot against a cgroups provider in this process.
    let (_server, crun) = weird_hash_provider(&tmp);
    let c = crun.to_str().unwrap();
    let out = netipc()
        .args([
            "lookup",
            "--json",
            "--token",
            TOKEN,
            "--run-dir",
            c,
            "system.slice",
        ])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["name"], "system.slice");
    assert_eq!(v["hash"], 7);
    let out = netipc()
        .args(["snapshot", "--json", "--token", TOKEN, "--run-dir", c])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["item_count"], 2);
}

#[test]
fn token_shows_source_and_fingerprint_not_the_token() {
    let out = netipc()
        .env("NETDATA_INVOCATION_ID", UUID)
        .args(["token"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let token = 0xf25f_3467_eb84_d6e6_u64;
    assert!(
        text.contains("derived from NETDATA_INVOCATION_ID"),
        "{text}"
    );
    assert!(
        text.contains(&format!("fingerprint  {}", fingerprint(token))),
        "{text}"
    );
    assert!(!text.contains("f25f3467eb84d6e6"), "{text}");
    let out = netipc()
        .env("NETDATA_INVOCATION_ID", UUID)
        .args(["token", "--reveal"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("0xf25f3467eb84d6e6"));
    // No token anywhere: a one-line usage error.
    let out = netipc().args(["token"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    one_line(&out);
}

#[test]
fn timeout_against_a_stopped_provider() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    p.signal(Signal::STOP);
    // The guard (Drop of `p`) sends SIGCONT and kills it, whatever happens.
    for cmd in [&["ping"][..], &["status", "--service", "increment"]] {
        let out = netipc()
            .args(cmd)
            .args(["--timeout", "300ms", "--token", TOKEN, "--run-dir"])
            .arg(&run)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{cmd:?}: {out:?}");
        assert!(one_line(&out).contains("did not answer"), "{out:?}");
    }
    let out = netipc()
        .args([
            "list",
            "--json",
            "--timeout",
            "300ms",
            "--token",
            TOKEN,
            "--run-dir",
        ])
        .arg(&run)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["endpoints"][0]["state"], "live");
    assert!(v["endpoints"][0]["note"]
        .as_str()
        .unwrap()
        .contains("no answer"));
}

#[test]
fn ctrl_c_ends_ping_with_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let _p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    let mut ping = Background::spawn(
        tmp.path(),
        "ping",
        &[
            "ping",
            "-i",
            "20ms",
            "--token",
            TOKEN,
            "--run-dir",
            run.to_str().unwrap(),
        ],
    );
    wait_until("two replies", || ping.stdout().contains("seq=2 "));
    ping.signal(Signal::INT);
    let status = ping.wait();
    assert_eq!(status.code(), Some(0), "{}", ping.stderr());
    let out = ping.stdout();
    assert!(out.contains("INCREMENT round trips to "), "{out}");
    assert!(out.contains("over UDS (interrupted)\nmin "), "{out}");
    assert!(out.contains(" p50 ") && out.contains("calls/s"), "{out}");
}

#[test]
fn long_service_names_are_usage_errors_with_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let long = "a".repeat(251);
    for cmd in [
        vec!["ping", "--service", &long, "--token", TOKEN],
        vec!["status", &long, "--token", TOKEN],
        vec!["serve", "increment", "--service", &long, "--token", TOKEN],
    ] {
        let out = netipc()
            .args(&cmd)
            .arg("--run-dir")
            .arg(&run)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {out:?}");
        let line = one_line(&out);
        assert!(line.contains("service name \"aaaa"), "{line}");
        assert!(line.contains("251 bytes"), "{line}");
        assert!(line.contains("may have at most "), "{line}");
    }
}

#[test]
fn usage_errors_are_one_line_plus_at_most_a_hint() {
    let out = netipc().args(["ping", "--cout", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "netipc: unexpected argument '--cout' found",
            "netipc: hint: a similar argument exists: '--count'"
        ]
    );
    for args in [
        &["lookup"][..],
        &["ping", "--timeout", "soon"],
        &["snapshot", "--token", "xyz"],
        &["nonsense"],
    ] {
        let out = netipc().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8(out.stderr).unwrap();
        assert!(text.starts_with("netipc: "), "{text}");
        assert!(text.lines().count() <= 2, "{text}");
        assert!(!text.contains("Usage:"), "{text}");
    }
    netipc().arg("--help").assert().success();
}

/// A cgroups provider, in this process, whose hashes are not the names'
/// own (as a provider computing them elsewhere may publish): `system.slice`
/// has hash 7, `k8s-pod-xyz` hash 2002.
fn weird_hash_provider(tmp: &TempDir) -> (ManagedServer, PathBuf) {
    let run = tmp.path().join("cgroups-run");
    fs::create_dir_all(&run).unwrap();
    let handler = cgroups::handler(|buf| {
        let mut b = SnapshotBuilder::new(buf, 2, 1, 1);
        for (hash, name) in [(7u32, "system.slice"), (2002, "k8s-pod-xyz")] {
            b.push(CgroupItem {
                hash,
                options: 0,
                enabled: 1,
                name: name.as_bytes(),
                path: format!("/sys/fs/cgroup/{name}").as_bytes(),
            })?;
        }
        b.finish()?;
        Ok(())
    });
    let server = ManagedServer::start(
        Endpoint::new(&run, "cgroups-snapshot").unwrap(),
        ServerConfig::new(AuthToken::new(TOKEN_VALUE)),
        handler,
    )
    .unwrap();
    (server, run)
}

#[test]
fn lookup_falls_back_to_a_scan_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, run) = weird_hash_provider(&tmp);
    let r = run.to_str().unwrap();
    let out = netipc()
        .args(["lookup", "--token", TOKEN, "--run-dir", r, "k8s-pod-xyz"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("hash        0x000007d2\n"), "{text}");
    // The line docs/cli.md shows (0x0a7892ef is FNV-1a of the name).
    assert_eq!(
        one_line(&out),
        "netipc: no cgroup has the name's own hash 0x0a7892ef; found \"k8s-pod-xyz\" by scanning the snapshot (the provider publishes hash 0x000007d2 for it)"
    );

    // By hash alone, and by both (the cache's direct path): no note.
    for extra in [&["--hash", "2002"][..], &["--hash", "0x7d2", "k8s-pod-xyz"]] {
        let out = netipc()
            .args(["lookup", "--token", TOKEN, "--run-dir", r])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{extra:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert!(String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("name        k8s-pod-xyz\n"));
    }
    // -q silences the note; a miss is still exit 6.
    let out = netipc()
        .args([
            "lookup",
            "-q",
            "--token",
            TOKEN,
            "--run-dir",
            r,
            "k8s-pod-xyz",
        ])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let out = netipc()
        .args([
            "lookup",
            "--token",
            TOKEN,
            "--run-dir",
            r,
            "--hash",
            "2002",
            "system.slice",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(one_line(&out).contains("no cgroup named \"system.slice\" with hash 0x000007d2"));
}

#[test]
fn lookup_at_another_kind_of_endpoint_says_what_it_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let _p = Background::serve(tmp.path(), &run, &["--token", TOKEN]);
    let out = netipc()
        .args([
            "lookup",
            "--service",
            "increment",
            "--token",
            TOKEN,
            "--run-dir",
        ])
        .arg(&run)
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(
        line.contains("does not serve CGROUPS_SNAPSHOT: it serves INCREMENT"),
        "{line}"
    );
    assert!(!line.contains("answered UNSUPPORTED"), "{line}");
}
