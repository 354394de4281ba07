//! End-to-end tests of the `netipc` binary: a real `netipc serve` in the
//! background over a fake cgroup tree in a temporary directory, queried by
//! the real client commands.

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use netipc::auth::AuthToken;
use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::service::{ClientConfig, Endpoint};
use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_netipc");
const TOKEN: &str = "0x5eed";
const TOKEN_VALUE: u64 = 0x5eed;
const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";

/// A `netipc` command with no invocation id in its environment.
fn netipc() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID")
        .timeout(Duration::from_secs(20));
    cmd
}

/// Creates the cgroup directories `names` under `root`.
fn tree(root: &Path, names: &[&str]) {
    for name in names {
        fs::create_dir_all(root.join(name)).unwrap();
        fs::write(root.join(name).join("cgroup.procs"), b"").unwrap();
    }
}

/// Files a provider may leave behind: sockets and shared-memory regions.
fn endpoint_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sock") || n.ends_with(".ipcshm"))
        .collect();
    names.sort();
    names
}

/// A background `netipc serve …` with its own temporary run directory.
struct Provider {
    child: Option<Child>,
    tmp: TempDir,
    log: PathBuf,
    errors: PathBuf,
}

impl Provider {
    /// Starts `netipc serve <args> --run-dir <tmp>/run` and waits for the
    /// socket of `service`.
    fn start(args: &[&str], service: &str, env: &[(&str, &str)]) -> Provider {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let log = tmp.path().join("stdout.txt");
        let errors = tmp.path().join("stderr.txt");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .arg("--run-dir")
            .arg(&run)
            .env_remove("NETDATA_INVOCATION_ID")
            .env_remove("INVOCATION_ID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(&errors).unwrap());
        let child = cmd.spawn().unwrap();
        let provider = Provider {
            child: Some(child),
            tmp,
            log,
            errors,
        };
        provider.wait_for(&run.join(format!("{service}.sock")));
        provider
    }

    /// Waits for the socket and for the "serving …" line, printed once the
    /// socket listens (the file exists a moment earlier, from `bind`).
    fn wait_for(&self, socket: &Path) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let serving = || fs::read_to_string(&self.log).is_ok_and(|out| out.contains("serving "));
        while !(socket.exists() && serving()) {
            assert!(
                Instant::now() < deadline,
                "no socket {} after 10 s; stderr: {}",
                socket.display(),
                fs::read_to_string(&self.errors).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn run_dir(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    fn run_dir_arg(&self) -> String {
        self.run_dir().to_str().unwrap().to_string()
    }

    /// Sends `signal` and waits (at most 10 s) for the process to exit.
    fn stop_with(&mut self, signal: rustix::process::Signal) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        rustix::process::kill_process(rustix::process::Pid::from_child(&child), signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("netipc serve did not exit within 10 s of the signal");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn stdout(&self) -> String {
        fs::read_to_string(&self.log).unwrap()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.errors).unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts a cgroups-snapshot provider over `root` (a v2 tree unless
/// `extra` says otherwise), rescanning every 50 ms.
fn serve_tree(root: &Path, extra: &[&str]) -> Provider {
    let root = root.to_str().unwrap();
    let mut args = vec!["cgroups-snapshot", "--token", TOKEN, "--interval", "0.05"];
    if !extra.contains(&"--mountinfo") {
        args.extend(["--cgroup-root", root]);
    }
    args.extend(extra);
    Provider::start(&args, "cgroups-snapshot", &[])
}

/// `netipc snapshot --json` against `p`, parsed.
fn snapshot_json(p: &Provider) -> Value {
    let out = netipc()
        .args(["snapshot", "--json", "--token", TOKEN, "--run-dir"])
        .arg(p.run_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "snapshot --json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn json_names(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

/// 32-bit FNV-1a, computed independently of the code under test.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// A token's fingerprint as the tool prints it.
fn fingerprint(token: u64) -> String {
    format!("{:04x}", AuthToken::new(token).fingerprint())
}

fn stderr_line(out: &std::process::Output) -> String {
    let text = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert!(text.starts_with("netipc: "), "{text:?}");
    text.trim_end().to_string()
}

#[test]
fn serve_snapshot_lookup_status_round_trip() {
    let cg = tempfile::tempdir().unwrap();
    tree(
        cg.path(),
        &[
            "init.scope",
            "system.slice/ssh.service",
            "system.slice/docker-0123abcd.scope",
            "user.slice/user 1000.slice/séance 1.scope",
            "machine.slice/日本語 vm.scope",
        ],
    );
    let mut p = serve_tree(cg.path(), &[]);
    let run = p.run_dir_arg();
    let root = cg.path().to_str().unwrap();

    // Table.
    let out = netipc()
        .args(["snapshot", "--token", TOKEN, "--run-dir", &run])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("generation 1, systemd_enabled 1, 10 cgroups")
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("HASH        OPTIONS  ENABLED  NAME"));
    let ssh = text
        .lines()
        .find(|l| l.contains(" system.slice/ssh.service "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        ssh.starts_with("0xd05e7ab0  0x6      1        system.slice/ssh.service"),
        "{ssh}"
    );
    assert!(
        ssh.ends_with(&format!("{root}/system.slice/ssh.service")),
        "{ssh}"
    );
    assert!(
        text.contains("user.slice/user 1000.slice/séance 1.scope"),
        "{text}"
    );

    // JSON.
    let v = snapshot_json(&p);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["systemd_enabled"], 1);
    assert_eq!(v["item_count"], 10);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for item in items {
        let name = item["name"].as_str().unwrap();
        assert_eq!(
            item["hash"].as_u64().unwrap(),
            u64::from(fnv1a32(name.as_bytes())),
            "{name}"
        );
        assert_eq!(
            item["hash_hex"].as_str().unwrap(),
            format!("{:#010x}", fnv1a32(name.as_bytes()))
        );
        let expected_path = if name == "/" {
            root.to_string()
        } else {
            format!("{root}/{name}")
        };
        assert_eq!(item["path"].as_str().unwrap(), expected_path);
        assert_eq!(
            item["options"].as_u64().unwrap() & 0x4,
            0x4,
            "v2 sets IS_UNIFIED"
        );
    }
    let unicode = items
        .iter()
        .find(|i| i["name"] == "machine.slice/日本語 vm.scope")
        .expect("unicode name");
    assert_eq!(unicode["enabled"], 1);

    // Lookup hits, including names with spaces and non-ASCII text.
    for name in [
        "system.slice/ssh.service",
        "user.slice/user 1000.slice/séance 1.scope",
        "/",
    ] {
        let out = netipc()
            .args(["lookup", "--token", TOKEN, "--run-dir", &run, name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with(&format!("name        {name}\n")), "{text}");
        assert!(
            text.contains(&format!("hash        {:#010x}\n", fnv1a32(name.as_bytes()))),
            "{text}"
        );
        let path = if name == "/" {
            root.to_string()
        } else {
            format!("{root}/{name}")
        };
        assert!(text.contains(&format!("path        {path}\n")), "{text}");
        assert!(
            text.contains("snapshot    generation 1, 10 cgroups"),
            "{text}"
        );
    }

    // Lookup miss: exit 6, with a hint for a leading slash.
    let out = netipc()
        .args([
            "lookup",
            "--token",
            TOKEN,
            "--run-dir",
            &run,
            "/system.slice/ssh.service",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let line = stderr_line(&out);
    assert!(
        line.contains("no cgroup named \"/system.slice/ssh.service\""),
        "{line}"
    );
    assert!(line.contains("try \"system.slice/ssh.service\""), "{line}");

    // Status over UDS and over shared memory.
    let out = netipc()
        .args(["status", "--token", TOKEN, "--run-dir", &run])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("endpoint        {run}/cgroups-snapshot.sock\n")),
        "{text}"
    );
    assert!(
        text.contains("profile         UDS_SEQPACKET (offered UDS_SEQPACKET"),
        "{text}"
    );
    assert!(text.contains("session id      "), "{text}");
    assert!(text.contains("response limit  "), "{text}");
    assert!(text.contains("packet size     "), "{text}");
    // The method served is probed, and the round trip uses it: no
    // UNSUPPORTED on a healthy endpoint.
    assert!(
        text.contains("method          CGROUPS_SNAPSHOT\n"),
        "{text}"
    );
    assert!(
        text.contains("(one CGROUPS_SNAPSHOT request, answered OK, "),
        "{text}"
    );
    assert!(
        text.contains(&format!("served by       pid {}, uid ", p.pid())),
        "{text}"
    );
    let out = netipc()
        .args([
            "status",
            "--shm",
            "--token",
            TOKEN,
            "--run-dir",
            &run,
            "cgroups-snapshot",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("profile         SHM_HYBRID"), "{text}");

    // Wrong token: exit 4 from every client command.
    for cmd in [
        &["snapshot"][..],
        &["lookup", "/"],
        &["status"],
        &["ping", "cgroups-snapshot", "--count", "1"],
    ] {
        let out = netipc()
            .args(cmd)
            .args(["--token", "0xbad", "--run-dir", &run])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{cmd:?}: {out:?}");
        assert_eq!(
            stderr_line(&out),
            format!(
                "netipc: provider at {run}/cgroups-snapshot.sock rejected our auth token (token from --token, fingerprint {})",
                fingerprint(0xbad)
            )
        );
    }

    // An INCREMENT ping at a snapshot endpoint is refused clearly.
    let out = netipc()
        .args([
            "ping",
            "cgroups-snapshot",
            "--count",
            "1",
            "--token",
            TOKEN,
            "--run-dir",
            &run,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("does not serve INCREMENT"));

    let status = p.stop_with(rustix::process::Signal::TERM);
    assert_eq!(status.code(), Some(0), "stderr: {}", p.stderr());
    assert_eq!(endpoint_files(&p.run_dir()), Vec::<String>::new());
    let log = p.stdout();
    assert!(log.starts_with(&format!(
        "serving cgroups-snapshot at {run}/cgroups-snapshot.sock: 10 cgroups from {root}, generation 1"
    )), "{log}");
    assert!(log.contains("stopped after"), "{log}");
}

#[test]
fn token_from_the_environment() {
    let cg = tempfile::tempdir().unwrap();
    tree(cg.path(), &["system.slice"]);
    let root = cg.path().to_str().unwrap();
    let p = Provider::start(
        &["cgroups-snapshot", "--cgroup-root", root],
        "cgroups-snapshot",
        &[("NETDATA_INVOCATION_ID", UUID)],
    );
    let run = p.run_dir_arg();
    // The same UUID spelled as systemd does, through the fallback variable.
    let bare: String = UUID
        .chars()
        .filter(|&c| c != '-')
        .collect::<String>()
        .to_uppercase();
    netipc()
        .env("INVOCATION_ID", &bare)
        .args(["snapshot", "--run-dir", &run])
        .assert()
        .success();
    // The derived token, given explicitly.
    netipc()
        .args([
            "snapshot",
            "--token",
            "0xf25f3467eb84d6e6",
            "--run-dir",
            &run,
        ])
        .assert()
        .success();
    // Another invocation id: rejected, and the message says where the token came from.
    let out = netipc()
        .env("NETDATA_INVOCATION_ID", "0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c")
        .args(["snapshot", "--run-dir", &run])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr_line(&out).ends_with(&format!(
        "(token derived from NETDATA_INVOCATION_ID, fingerprint {})",
        fingerprint(0xce21_5af6_3868_e0c5)
    )));
}

#[test]
fn errors_are_one_line_with_documented_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();

    // No provider: the run directory exists, the socket does not.
    for (cmd, sock) in [
        (&["snapshot"][..], "cgroups-snapshot"),
        (&["lookup", "x"], "cgroups-snapshot"),
        (&["status", "increment"], "increment"),
        (&["ping"], "increment"),
    ] {
        let out = netipc()
            .args(cmd)
            .args(["--token", TOKEN, "--run-dir", dir])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{cmd:?}");
        assert_eq!(
            stderr_line(&out),
            format!("netipc: no provider at {dir}/{sock}.sock — is it running?")
        );
    }

    // A stale socket file (nobody listening) is "no provider" too.
    let stale = tmp.path().join("stale");
    fs::create_dir(&stale).unwrap();
    let listener =
        std::os::unix::net::UnixListener::bind(stale.join("cgroups-snapshot.sock")).unwrap();
    drop(listener);
    let out = netipc()
        .args(["snapshot", "--token", TOKEN, "--run-dir"])
        .arg(&stale)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    // Run directory missing, or a regular file: exit 5. (Tests run as root,
    // for whom permission bits are no obstacle, so unreadability is shown
    // with paths that cannot be directories.)
    let missing = format!("{dir}/missing");
    let file = format!("{dir}/file");
    fs::write(&file, b"").unwrap();
    for cmd in [&["snapshot"][..], &["lookup", "x"], &["status"], &["ping"]] {
        let out = netipc()
            .args(cmd)
            .args(["--token", TOKEN, "--run-dir", &missing])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{cmd:?}");
        assert!(
            stderr_line(&out)
                .starts_with(&format!("netipc: run directory {missing} does not exist")),
            "{out:?}"
        );
        let out = netipc()
            .args(cmd)
            .args(["--token", TOKEN, "--run-dir", &file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{cmd:?}");
        assert_eq!(
            stderr_line(&out),
            format!("netipc: run directory {file} is not a directory")
        );
    }
    let nested = format!("{file}/below");
    let out = netipc()
        .args(["snapshot", "--token", TOKEN, "--run-dir", &nested])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    stderr_line(&out);
    // serve cannot create a run directory below a file.
    let out = netipc()
        .args(["serve", "increment", "--token", TOKEN, "--run-dir", &nested])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr_line(&out),
        format!("netipc: cannot access run directory {nested}: Not a directory")
    );

    // No token anywhere: exit 2, naming both variables and --token.
    for cmd in [
        &["snapshot", "--run-dir", dir][..],
        &["serve", "increment", "--run-dir", dir],
    ] {
        let out = netipc().args(cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let line = stderr_line(&out);
        for needle in ["NETDATA_INVOCATION_ID", " INVOCATION_ID", "--token HEX"] {
            assert!(line.contains(needle), "{line}");
        }
    }
    // A malformed token is a usage error.
    let out = netipc()
        .args(["snapshot", "--token", "xyz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ping_an_increment_provider_over_uds_and_shm() {
    let mut p = Provider::start(&["increment", "--token", TOKEN], "increment", &[]);
    let run = p.run_dir_arg();
    for (extra, transport) in [(None, "UDS"), (Some("--shm"), "shared memory")] {
        let out = netipc()
            .args([
                "ping",
                "--count",
                "200",
                "--token",
                TOKEN,
                "--run-dir",
                &run,
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with(&format!(
                "200 INCREMENT round trips to {run}/increment.sock over {transport}\nmin "
            )),
            "{text}"
        );
        for label in ["p50 ", "p90 ", "p99 ", "max ", "calls/s"] {
            assert!(text.contains(label), "{text}");
        }
    }
    let out = netipc()
        .args(["status", "increment", "--token", TOKEN, "--run-dir", &run])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("answered OK"));

    // A second provider on the same endpoint is refused, the first goes on.
    let out = netipc()
        .args(["serve", "increment", "--token", TOKEN, "--run-dir", &run])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_line(&out),
        format!("netipc: another provider is already serving {run}/increment.sock")
    );
    netipc()
        .args(["ping", "--count", "1", "--token", TOKEN, "--run-dir", &run])
        .assert()
        .success();

    let status = p.stop_with(rustix::process::Signal::INT);
    assert_eq!(status.code(), Some(0));
    assert_eq!(endpoint_files(&p.run_dir()), Vec::<String>::new());
}

#[test]
fn sigterm_removes_socket_and_shared_memory_files() {
    let cg = tempfile::tempdir().unwrap();
    tree(cg.path(), &["system.slice/ssh.service"]);
    let mut p = serve_tree(cg.path(), &[]);
    let run = p.run_dir();

    // Hold shared-memory sessions open across the signal.
    let mut clients: Vec<CgroupsSnapshotClient> = (0..2)
        .map(|_| {
            let mut c = CgroupsSnapshotClient::new(
                Endpoint::new(&run, "cgroups-snapshot").unwrap(),
                ClientConfig::new(AuthToken::new(TOKEN_VALUE)),
            );
            c.refresh();
            assert!(c.ready(), "{:?}", c.status());
            assert_eq!(c.call_snapshot().unwrap().item_count(), 3);
            c
        })
        .collect();
    let files = endpoint_files(&run);
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".ipcshm")).count(),
        2,
        "{files:?}"
    );
    assert!(files.contains(&"cgroups-snapshot.sock".to_string()));

    let status = p.stop_with(rustix::process::Signal::TERM);
    assert_eq!(status.code(), Some(0), "stderr: {}", p.stderr());
    assert_eq!(endpoint_files(&run), Vec::<String>::new());
    // The clients notice the provider is gone.
    assert!(clients[0].call_snapshot().is_err());
}

#[test]
fn sighup_cleans_up_like_sigterm() {
    // A closed terminal sends SIGHUP: the provider must stop as for SIGTERM
    // (exit 0, no socket or shared-memory file left), not die with 129.
    let cg = tempfile::tempdir().unwrap();
    tree(cg.path(), &["system.slice/ssh.service"]);
    let mut p = serve_tree(cg.path(), &[]);
    let run = p.run_dir();
    let mut client = CgroupsSnapshotClient::new(
        Endpoint::new(&run, "cgroups-snapshot").unwrap(),
        ClientConfig::new(AuthToken::new(TOKEN_VALUE)),
    );
    client.refresh();
    assert!(client.ready(), "{:?}", client.status());
    assert_eq!(client.call_snapshot().unwrap().item_count(), 3);
    assert!(endpoint_files(&run).iter().any(|f| f.ends_with(".ipcshm")));

    let status = p.stop_with(rustix::process::Signal::HUP);
    assert_eq!(status.code(), Some(0), "stderr: {}", p.stderr());
    assert_eq!(endpoint_files(&run), Vec::<String>::new());
}

#[test]
fn provider_over_a_v1_layout_found_through_mountinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let cpuacct = tmp.path().join("cg/cpu,cpuacct");
    let systemd = tmp.path().join("cg/systemd");
    let memory = tmp.path().join("cg/memory");
    tree(
        &cpuacct,
        &[
            "system.slice/cron.service",
            "user.slice/user-0.slice/session-1.scope",
        ],
    );
    tree(&memory, &["only-in-memory"]);
    fs::create_dir_all(&systemd).unwrap();
    let mountinfo = tmp.path().join("mountinfo");
    fs::write(
        &mountinfo,
        format!(
            "22 1 0:21 / /proc rw - proc proc rw\n\
             30 1 0:30 / {} rw - cgroup cgroup rw,memory\n\
             31 1 0:31 / {} rw - cgroup cgroup rw,cpu,cpuacct\n\
             32 1 0:32 / {} rw - cgroup cgroup rw,xattr,name=systemd\n",
            memory.display(),
            cpuacct.display(),
            systemd.display()
        ),
    )
    .unwrap();
    let p = serve_tree(tmp.path(), &["--mountinfo", mountinfo.to_str().unwrap()]);
    let v = snapshot_json(&p);
    assert_eq!(v["systemd_enabled"], 1);
    assert_eq!(
        json_names(&v),
        [
            "/",
            "system.slice",
            "system.slice/cron.service",
            "user.slice",
            "user.slice/user-0.slice",
            "user.slice/user-0.slice/session-1.scope"
        ]
    );
    let cron = &v["items"][2];
    assert_eq!(cron["options"], 0x2, "v1: SYSTEM_SLICE_SERVICE only");
    assert_eq!(cron["enabled"], 1);
    assert_eq!(
        cron["path"].as_str().unwrap(),
        format!("{}/system.slice/cron.service", cpuacct.display())
    );
}

#[test]
fn generation_moves_only_when_the_set_of_cgroups_changes() {
    let cg = tempfile::tempdir().unwrap();
    tree(
        cg.path(),
        &["a.slice/x.scope", "a.slice/y.scope", "b.slice"],
    );
    let p = serve_tree(cg.path(), &[]);

    let first = snapshot_json(&p);
    assert_eq!(first["generation"], 1);
    // Unchanged tree, many rescans later (interval 50 ms): same generation.
    fs::write(cg.path().join("a.slice/x.scope/cgroup.procs"), b"123\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(snapshot_json(&p), first);

    // A cgroup removed between scans: the generation moves by one.
    fs::remove_file(cg.path().join("a.slice/y.scope/cgroup.procs")).unwrap();
    fs::remove_dir(cg.path().join("a.slice/y.scope")).unwrap();
    let second = wait_for_generation(&p, 2);
    assert_eq!(second["item_count"], 4);
    assert!(!json_names(&second).contains(&"a.slice/y.scope".to_string()));

    // A cgroup added: again.
    tree(cg.path(), &["c d.slice/ü.scope"]);
    let third = wait_for_generation(&p, 3);
    assert!(json_names(&third).contains(&"c d.slice/ü.scope".to_string()));
}

fn wait_for_generation(p: &Provider, generation: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = snapshot_json(p);
        let g = v["generation"].as_u64().unwrap();
        if g == generation {
            return v;
        }
        assert!(g < generation, "generation jumped to {g}");
        assert!(Instant::now() < deadline, "generation stuck at {g}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary directory on tmpfs when there is one: creating 10,000
/// directories there is an order of magnitude faster than on a disk.
fn fast_tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("netipc-test-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

#[test]
fn ten_thousand_cgroups() {
    let cg = fast_tempdir();
    for i in 0..100 {
        let pod = cg.path().join(format!("pod{i:02}"));
        fs::create_dir(&pod).unwrap();
        for j in 0..100 {
            fs::create_dir(pod.join(format!("c{j:02}"))).unwrap();
        }
    }
    let root = cg.path().to_str().unwrap();
    let p = Provider::start(
        &["cgroups-snapshot", "--token", TOKEN, "--cgroup-root", root],
        "cgroups-snapshot",
        &[],
    );
    let v = snapshot_json(&p);
    // 100 pods, 10,000 containers, the root.
    assert_eq!(v["item_count"], 10_101);
    let names = json_names(&v);
    assert_eq!(names.len(), 10_101);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    let run = p.run_dir_arg();
    let out = netipc()
        .args(["lookup", "--token", TOKEN, "--run-dir", &run, "pod42/c17"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("snapshot    generation 1, 10101 cgroups"));
}

#[test]
fn unreadable_cgroup_root_serves_generation_0_until_it_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("later");
    let p = serve_tree(&root, &[]);
    let v = snapshot_json(&p);
    assert_eq!(
        (v["generation"].as_u64(), v["item_count"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        p.stderr()
            .contains("serving an empty snapshot (generation 0)"),
        "{}",
        p.stderr()
    );

    tree(&root, &["system.slice"]);
    let v = wait_for_generation(&p, 1);
    assert_eq!(json_names(&v), ["/", "system.slice"]);
}

#[test]
fn non_utf8_names_survive() {
    let cg = tempfile::tempdir().unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"odd\xffname");
    fs::create_dir(cg.path().join(raw)).unwrap();
    let p = serve_tree(cg.path(), &[]);
    let run = p.run_dir_arg();
    let out = netipc()
        .args(["lookup", "--token", TOKEN, "--run-dir", &run])
        .arg(raw)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("name        odd\u{fffd}name\n"), "{text}");
    assert!(
        text.contains(&format!("hash        {:#010x}", fnv1a32(b"odd\xffname"))),
        "{text}"
    );
}

#[test]
fn demo_runs_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = netipc()
        .env("TMPDIR", tmp.path())
        .args(["demo", "--calls", "200", "--rows", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "run directory  ",
        "auth token     0x",
        "1. snapshot over UDS",
        "2. snapshot over shared memory",
        "byte-for-byte the same payload",
        "3. lookups",
        "   miss  system.slice/no-such.service",
        "4. round trips",
        "   UDS            INCREMENT",
        "   shared memory  CGROUPS_SNAPSHOT",
        "cleaned up",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the demo left files in TMPDIR"
    );
}

#[test]
fn demo_falls_back_to_a_synthetic_tree_without_cgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let mountinfo = tmp.path().join("mountinfo");
    fs::write(&mountinfo, "22 1 0:21 / /proc rw - proc proc rw\n").unwrap();
    let out = netipc()
        .env("TMPDIR", tmp.path())
        .args(["demo", "--calls", "100", "--mountinfo"])
        .arg(&mountinfo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        &format!(
            "cgroups        cannot scan this machine's cgroups: no cgroup filesystem found in {}\n",
            mountinfo.display()
        )[..],
        "serving a synthetic tree of 11 cgroups from ",
        "generation 1, systemd_enabled 1, 11 cgroups",
        "   hit   system.slice/cron.service ",
        "   hit   /  ",
        "cleaned up",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the mountinfo file stays"
    );
}

/// A copy of the binary that `nobody` can run, in a directory `nobody` can
/// enter, and the `setpriv` command line that runs it as `nobody` — or
/// `None` when the tests do not run as root or `setpriv` is missing.
struct Unprivileged {
    tmp: TempDir,
    setpriv: PathBuf,
    bin: PathBuf,
}

impl Unprivileged {
    fn new() -> Option<Unprivileged> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let Ok(setpriv) = which("setpriv") else {
            eprintln!("setpriv not found; skipping the unprivileged run");
            return None;
        };
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("netipc");
        fs::copy(BIN, &bin).unwrap();
        for p in [tmp.path(), &bin] {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // A process forked by another test thread while the copy was open
        // for writing holds it until it execs; executing the copy meanwhile
        // fails with ETXTBSY. Wait until the copy runs.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match Command::new(&bin).arg("--version").output() {
                Ok(out) if out.status.success() => break,
                Err(e) if e.raw_os_error() == Some(26) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => panic!("cannot run the copied binary: {other:?}"),
            }
        }
        Some(Unprivileged { tmp, setpriv, bin })
    }

    /// A world-writable directory for the unprivileged process.
    fn scratch(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.tmp.path().join("scratch");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        dir
    }

    /// `netipc ARGS` as uid/gid 65534 with no supplementary groups.
    fn netipc(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(&self.setpriv);
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&self.bin)
            .env_remove("NETDATA_INVOCATION_ID")
            .env_remove("INVOCATION_ID")
            .current_dir("/")
            .timeout(Duration::from_secs(20));
        cmd
    }
}

/// The demo needs no root: run it as `nobody` when the tests run as root
/// (when they do not, demo_runs_and_cleans_up already covers it).
#[test]
fn demo_works_without_root() {
    let Some(nobody) = Unprivileged::new() else {
        return;
    };
    let tmpdir = nobody.scratch();
    let out = nobody
        .netipc()
        .args(["demo", "--calls", "100"])
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("2. snapshot over shared memory (SHM_FUTEX)"),
        "{text}"
    );
    assert!(text.contains("cleaned up"), "{text}");
    assert_eq!(fs::read_dir(&tmpdir).unwrap().count(), 0);
}

/// What permission bits do to an unprivileged client of a root provider:
/// a run directory it cannot enter, and a socket it may not connect to,
/// are both exit 5.
#[test]
fn permission_denied_is_exit_5() {
    use std::os::unix::fs::PermissionsExt;
    let Some(nobody) = Unprivileged::new() else {
        return;
    };
    let cg = tempfile::tempdir().unwrap();
    tree(cg.path(), &["system.slice"]);
    let p = serve_tree(cg.path(), &[]);
    let run = p.run_dir();
    // The provider created the run directory 0755 (less the umask); its
    // parent is a private temporary directory: open it up.
    fs::set_permissions(p.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();

    // The socket is 0600 root: connecting is refused.
    let out = nobody
        .netipc()
        .args(["snapshot", "--token", TOKEN, "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(
        stderr_line(&out),
        format!(
            "netipc: cannot connect to {}/cgroups-snapshot.sock: permission denied",
            run.display()
        )
    );
    let out = nobody
        .netipc()
        .args(["status", "--token", TOKEN, "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");

    // A run directory nobody may enter.
    fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
    for cmd in [&["snapshot"][..], &["lookup", "/"], &["status"], &["ping"]] {
        let out = nobody
            .netipc()
            .args(cmd)
            .args(["--token", TOKEN, "--run-dir"])
            .arg(&run)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{cmd:?}: {out:?}");
        assert_eq!(
            stderr_line(&out),
            format!(
                "netipc: cannot access run directory {}: Permission denied",
                run.display()
            )
        );
    }
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn help_documents_auth_and_exit_codes() {
    let out = netipc().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--token HEX",
        "NETDATA_INVOCATION_ID",
        "    3  no provider at the endpoint",
        "    4  the provider rejected our auth token",
        "    5  run directory",
        "  130  demo interrupted",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // No subcommand is a usage error.
    assert_eq!(netipc().output().unwrap().status.code(), Some(2));
}

#[test]
fn interrupted_demo_cleans_up_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().join("tmp");
    fs::create_dir(&tmpdir).unwrap();
    let log = tmp.path().join("stdout.txt");
    let errors = tmp.path().join("stderr.txt");
    let mut child = Command::new(BIN)
        .args(["demo", "--calls", "10000000"])
        .env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID")
        .env("TMPDIR", &tmpdir)
        .stdout(File::create(&log).unwrap())
        .stderr(File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&log).unwrap().contains("4. round trips") {
        assert!(
            Instant::now() < deadline,
            "demo never reached the timing step"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        fs::read_to_string(&errors).unwrap(),
        "netipc: interrupted; cleaned up\n"
    );
    assert_eq!(
        fs::read_dir(&tmpdir).unwrap().count(),
        0,
        "the demo left files behind"
    );
}
