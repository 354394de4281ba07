//! `netipc serve cgroups-lookup` / `serve apps-lookup` and the
//! `cgroups-lookup` / `apps-lookup` client commands, end to end: on fake v1
//! and v2 cgroup trees with a fake `/proc` of 10,000 processes, and on this
//! machine's real ones.

mod fake_proc;

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_proc::{stat_line, status_text, FakeHost, ID};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netipc");
const TOKEN: &str = "0x100c";

/// A background `netipc serve <service>` in its own run directory.
struct Serving {
    child: Child,
    run: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Serving {
    fn start(service: &str, extra: &[&str]) -> Serving {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let log = tmp.path().join("out");
        let mut child = Command::new(BIN)
            .args(["serve", service, "--token", TOKEN, "--run-dir"])
            .arg(&run)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fs::read_to_string(&log).is_ok_and(|s| s.contains("serving ")) {
            assert!(Instant::now() < deadline, "{service} did not start");
            assert!(child.try_wait().unwrap().is_none(), "{service} exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        Serving {
            child,
            run,
            _tmp: tmp,
        }
    }

    /// Runs a client command against this provider; its parsed `--json`.
    fn json(&self, command: &str, keys: &[String]) -> Value {
        let out = assert_cmd::Command::new(BIN)
            .args([command, "--json", "--token", TOKEN, "--run-dir"])
            .arg(&self.run)
            .args(keys)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn table(&self, command: &str, keys: &[&str]) -> String {
        let out = assert_cmd::Command::new(BIN)
            .args([command, "--token", TOKEN, "--run-dir"])
            .arg(&self.run)
            .args(keys)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fake mountinfo mounting the fake host's unified, cpuacct and memory
/// hierarchies.
fn mountinfo(host: &FakeHost) -> PathBuf {
    let path = host.root("mountinfo");
    fs::write(
        &path,
        format!(
            "30 1 0:30 / {} rw - cgroup2 cgroup2 rw\n\
             31 1 0:31 / {} rw - cgroup cgroup rw,cpu,cpuacct\n\
             32 1 0:32 / {} rw - cgroup cgroup rw,memory\n",
            host.root("unified").display(),
            host.root("cpu,cpuacct").display(),
            host.root("memory").display(),
        ),
    )
    .unwrap();
    path
}

fn strings(keys: &[impl ToString]) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
}

#[test]
fn cgroups_lookup_on_fake_v1_and_v2_trees() {
    let host = FakeHost::new();
    let docker = format!("system.slice/docker-{ID}.scope");
    host.cgroup("unified", &docker);
    host.cgroup("cpu,cpuacct", "lxc/web");
    let mi = mountinfo(&host);
    let p = Serving::start("cgroups-lookup", &["--mountinfo", mi.to_str().unwrap()]);
    let unified = host.root("unified").display().to_string();
    let cpuacct = host.root("cpu,cpuacct").display().to_string();
    let keys = [
        format!("{unified}/{docker}"),
        format!("{cpuacct}/lxc/web"),
        unified.clone(),
        format!("{unified}/missing.scope"),
        "/elsewhere".to_string(),
        format!("{unified}/../etc"),
    ];
    let v = p.json("cgroups-lookup", &keys);
    assert_eq!(v["generation"], 1);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), keys.len());
    for (item, key) in items.iter().zip(&keys) {
        assert_eq!(item["path"], key.as_str());
    }
    assert_eq!(items[0]["status"], "KNOWN");
    assert_eq!(items[0]["orchestrator"], "DOCKER");
    assert_eq!(items[0]["name"], docker.as_str());
    assert_eq!(items[0]["labels"]["container_id"], ID);
    assert_eq!(
        (
            &items[1]["orchestrator"],
            &items[1]["labels"]["container_name"]
        ),
        (&Value::from("LXC"), &Value::from("web"))
    );
    assert_eq!(
        (&items[2]["status"], &items[2]["name"]),
        (&Value::from("KNOWN"), &Value::from("/"))
    );
    assert_eq!(items[3]["status"], "UNKNOWN_RETRY_LATER", "{}", items[3]);
    for item in &items[4..] {
        assert_eq!(item["status"], "UNKNOWN_PERMANENT", "{item}");
    }
    // A path below a root that no scan found becomes permanent once a scan
    // that started after the question missed it.
    until_permanent(&p, &keys[3]);
    let table = p.table("cgroups-lookup", &[&keys[0], "/elsewhere"]);
    assert!(
        table.starts_with("generation 1, 2 paths\nSTATUS"),
        "{table}"
    );
    assert!(table.contains("UNKNOWN_PERMANENT"), "{table}");
}

#[test]
fn apps_lookup_on_a_fake_proc_of_ten_thousand_processes() {
    let host = FakeHost::new();
    for svc in 0..50 {
        host.cgroup("unified", &format!("system.slice/svc{svc}.service"));
    }
    host.cgroup("memory", "lxc.payload.c1");
    let mut pids = Vec::new();
    for i in 0..10_000u32 {
        let pid = 100 + i;
        pids.push(pid);
        let comm = format!("w{}", i % 1_000);
        let cgroup = match i % 4 {
            0 => format!("0::/system.slice/svc{}.service\n", i % 50),
            1 => "3:memory:/lxc.payload.c1\n".to_string(),
            2 => "0::/init.scope\n4:cpu,cpuacct:/x\n".to_string(),
            _ => continue, // no process: UNKNOWN
        };
        host.process(
            pid,
            Some(&stat_line(pid, &comm, "1", u64::from(i) * 2)),
            Some(&status_text(&comm, 0, i % 100)),
            Some(&cgroup),
        );
    }
    let mi = mountinfo(&host);
    let p = Serving::start(
        "apps-lookup",
        &[
            "--mountinfo",
            mi.to_str().unwrap(),
            "--proc-root",
            host.root("proc").to_str().unwrap(),
        ],
    );
    let v = p.json("apps-lookup", &strings(&pids));
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10_000);
    let unified = host.root("unified").display().to_string();
    for (i, item) in items.iter().enumerate() {
        let i = i as u32;
        assert_eq!(item["pid"], 100 + i);
        if i % 4 == 3 {
            assert_eq!(item["status"], "UNKNOWN", "{item}");
            assert_eq!(item["uid"], Value::Null);
            continue;
        }
        assert_eq!(item["status"], "KNOWN", "{item}");
        assert_eq!(item["comm"], format!("w{}", i % 1_000));
        assert_eq!(
            (&item["ppid"], &item["uid"]),
            (&Value::from(1), &Value::from(i % 100))
        );
        assert_eq!(item["starttime"], u64::from(i) * 2);
        match i % 4 {
            0 => {
                assert_eq!(item["cgroup_status"], "KNOWN");
                assert_eq!(item["orchestrator"], "SYSTEMD");
                assert_eq!(
                    item["cgroup_path"],
                    format!("{unified}/system.slice/svc{}.service", i % 50)
                );
            }
            1 => {
                assert_eq!(item["cgroup_status"], "KNOWN");
                assert_eq!(item["orchestrator"], "LXC");
                assert_eq!(item["labels"]["container_name"], "c1");
            }
            _ => {
                // The v2 line comes first: /init.scope is the host root.
                assert_eq!(item["cgroup_status"], "HOST_ROOT", "{item}");
                assert_eq!(item["cgroup_path"], "");
            }
        }
    }
}

/// Asks for `key` until the answer is UNKNOWN_PERMANENT; until then it
/// must be UNKNOWN_RETRY_LATER.
fn until_permanent(p: &Serving, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = p.json("cgroups-lookup", &[key.to_string()]);
        if v["items"][0]["status"] == "UNKNOWN_PERMANENT" {
            return;
        }
        assert_eq!(v["items"][0]["status"], "UNKNOWN_RETRY_LATER", "{v}");
        assert!(Instant::now() < deadline, "still {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This process's parent and comm from `/proc/self/stat`.
fn own_stat() -> (u32, String) {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let open = stat.find('(').unwrap();
    let close = stat.rfind(')').unwrap();
    let comm = stat[open + 1..close].to_string();
    let ppid = stat[close + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (ppid, comm)
}

/// The mount point of a cgroup hierarchy the providers index (cgroup2, or
/// v1 with cpuacct, blkio, memory or name=systemd), if any.
fn a_cgroup_mount() -> Option<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let options = right.nth(1)?;
        let indexed = fstype == "cgroup2"
            || (fstype == "cgroup"
                && options
                    .split(',')
                    .any(|o| ["cpuacct", "blkio", "memory", "name=systemd"].contains(&o)));
        indexed.then(|| left.split(' ').nth(4).unwrap().to_string())
    })
}

#[test]
fn both_lookups_on_this_machine() {
    let Some(mount) = a_cgroup_mount() else {
        eprintln!("no cgroup filesystem mounted here; nothing to check");
        return;
    };
    let cg = Serving::start("cgroups-lookup", &[]);
    let v = cg.json("cgroups-lookup", std::slice::from_ref(&mount));
    let item = &v["items"][0];
    assert_eq!(
        (&item["status"], &item["name"]),
        (&Value::from("KNOWN"), &Value::from("/"))
    );
    until_permanent(&cg, &format!("{mount}/netipc-no-such-cgroup"));

    let apps = Serving::start("apps-lookup", &[]);
    let me = std::process::id();
    let v = apps.json("apps-lookup", &strings(&[me, 1, u32::MAX]));
    let items = v["items"].as_array().unwrap();
    let (ppid, comm) = own_stat();
    assert_eq!(items[0]["status"], "KNOWN");
    assert_eq!(items[0]["ppid"], ppid);
    assert_eq!(items[0]["comm"], comm.as_str());
    assert_eq!(items[1]["status"], "KNOWN");
    assert_eq!(items[2]["status"], "UNKNOWN");
    // A KNOWN cgroup of ours is also known to the cgroups provider.
    if items[0]["cgroup_status"] == "KNOWN" {
        let path = items[0]["cgroup_path"].as_str().unwrap().to_string();
        let v = cg.json("cgroups-lookup", &[path]);
        assert_eq!(v["items"][0]["status"], "KNOWN");
    }
}

#[test]
fn the_demo_shows_both_lookups() {
    let out = assert_cmd::Command::new(BIN)
        .args(["demo", "--calls", "10", "--rows", "1"])
        .env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let phase = &text[text.find("5. lookup services").expect("lookup phase")..];
    if a_cgroup_mount().is_some() {
        assert!(
            phase.contains("STATUS               ORCHESTRATOR"),
            "{phase}"
        );
        let me_and_init = phase.lines().filter(|l| l.contains("  KNOWN  ")).count();
        assert!(me_and_init >= 3, "{phase}");
        assert!(phase.contains("4294967295  UNKNOWN"), "{phase}");
    }
    assert!(text.contains("cleaned up"), "{text}");
}
