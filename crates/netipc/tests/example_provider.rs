//! The `snapshot_provider` example: serves until SIGINT, keeps its
//! generation while its data does not change, and removes its socket.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netipc::auth::AuthToken;
use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::service::{ClientConfig, Endpoint};
use rustix::process::{kill_process, Pid, Signal};

/// `target/<profile>/examples/snapshot_provider`: built by a full `cargo
/// test`, and built here when only this test was asked for.
fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("snapshot_provider");
    if !bin.exists() {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args([
            "build",
            "-q",
            "-p",
            "netipc",
            "--example",
            "snapshot_provider",
        ]);
        if profile_dir.file_name() == Some(std::ffi::OsStr::new("release")) {
            cargo.arg("--release");
        }
        assert!(
            cargo.status().unwrap().success(),
            "building the example failed"
        );
    }
    bin
}

#[test]
fn serves_until_ctrl_c_with_a_stable_generation_and_cleans_up() {
    let bin = example_binary();
    assert!(bin.exists(), "{} not built", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .arg(dir.path())
        .env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = Endpoint::new(dir.path(), "cgroups-snapshot").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !endpoint.socket_path().exists() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut generations = Vec::new();
    for _ in 0..3 {
        let mut client =
            CgroupsSnapshotClient::new(endpoint.clone(), ClientConfig::new(AuthToken::new(0x5EED)));
        assert!(client.refresh());
        let view = client.call_snapshot().unwrap();
        assert_eq!(view.item_count(), 2);
        generations.push(view.generation());
    }
    assert_eq!(generations, [1, 1, 1], "the data never changes");

    kill_process(Pid::from_child(&child), Signal::INT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(!endpoint.socket_path().exists(), "socket left behind");
}
