//! Compiles the C test programs in `tests/c/` with the system C compiler
//! against the freshly built `libnetipc` and runs them: in one process
//! (with a provider served on a thread the program owns), as
//! provider and consumer in two processes (UDS and shared memory), against
//! the Rust `netipc` CLI in both directions, with a wrong token, and the
//! examples against an installed prefix.
//!
//! `NETIPC_FFI_CHECK` selects how the C programs are built and run:
//! unset (linked with `libnetipc.so`), `asan` (AddressSanitizer with leak
//! detection, linked with `libnetipc.a`) or `valgrind` (linked with
//! `libnetipc.so`, run under `valgrind --leak-check=full`, failing on any
//! error or definite/indirect leak).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const TOKEN: &str = "5eed5eed5eed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Plain,
    Asan,
    Valgrind,
}

fn check() -> Check {
    match std::env::var("NETIPC_FFI_CHECK").as_deref() {
        Ok("asan") => Check::Asan,
        Ok("valgrind") => Check::Valgrind,
        Ok("") | Err(_) => Check::Plain,
        Ok(other) => panic!("NETIPC_FFI_CHECK={other}: expected asan or valgrind"),
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_dir() -> PathBuf {
    crate_dir().join("../..").canonicalize().unwrap()
}

/// What the tests run against, built by a nested cargo: `cargo test`
/// builds no cdylib or staticlib for integration tests, and the CLI binary
/// of another package may be missing or stale.
struct Built {
    /// Holds `libnetipc.so` and `libnetipc.a`.
    lib_dir: PathBuf,
    /// The `netipc` CLI.
    cli: PathBuf,
}

/// Builds `netipc-ffi` and `netipc-cli` with this test's profile, once per
/// test process (a no-op when they are up to date). The separate target
/// directory keeps the nested cargo off the lock of the one running us.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // This test runs from `target/<profile>/deps`.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let target = profile_dir.parent().unwrap().join("ffi-nested");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_dir())
            .args(["build", "--quiet", "-p", "netipc-ffi", "-p", "netipc-cli"])
            .arg("--target-dir")
            .arg(&target);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        run_ok(&mut cmd);
        let lib_dir = target.join(&profile);
        for file in ["libnetipc.so", "libnetipc.a", "netipc"] {
            assert!(
                lib_dir.join(file).exists(),
                "{file} was not built in {}",
                lib_dir.display()
            );
        }
        Built {
            cli: lib_dir.join("netipc"),
            lib_dir,
        }
    })
}

fn lib_dir() -> PathBuf {
    built().lib_dir.clone()
}

/// Runs a command to completion and fails the test with its output unless
/// it succeeds.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The C test programs, compiled once per test process.
struct Programs {
    _dir: tempfile::TempDir,
    api: PathBuf,
    lookup: PathBuf,
    own_thread: PathBuf,
    provider: PathBuf,
    consumer: PathBuf,
}

/// A private library directory with `libnetipc.so` under its soname too,
/// as an installation would have it.
fn link_dir(dir: &Path) -> PathBuf {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for name in ["libnetipc.so", "libnetipc.so.0"] {
        std::os::unix::fs::symlink(lib_dir().join("libnetipc.so"), lib.join(name)).unwrap();
    }
    lib
}

fn compile(src: &str, out: &Path, shared_lib: &Path) {
    let lib = lib_dir();
    let mut cmd = Command::new("cc");
    cmd.args([
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-pthread",
    ])
    .arg("-I")
    .arg(workspace_dir().join("include"))
    .arg(crate_dir().join("tests/c").join(src))
    .arg("-o")
    .arg(out);
    if check() == Check::Asan {
        cmd.args(["-fsanitize=address", "-fno-omit-frame-pointer"])
            .arg(lib.join("libnetipc.a"))
            .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"]);
    } else {
        cmd.arg("-L")
            .arg(shared_lib)
            .arg(format!("-Wl,-rpath,{}", shared_lib.display()))
            .arg("-lnetipc");
    }
    run_ok(&mut cmd);
}

fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let lib = link_dir(dir.path());
        compile("api.c", &path("api"), &lib);
        compile("lookup.c", &path("lookup"), &lib);
        compile("own_thread.c", &path("own_thread"), &lib);
        compile("provider.c", &path("provider"), &lib);
        compile("consumer.c", &path("consumer"), &lib);
        Programs {
            api: path("api"),
            lookup: path("lookup"),
            own_thread: path("own_thread"),
            provider: path("provider"),
            consumer: path("consumer"),
            _dir: dir,
        }
    })
}

/// A command that runs a C test program the way `NETIPC_FFI_CHECK` asks.
fn c_program(program: &Path) -> Command {
    let mut cmd = match check() {
        Check::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "-q",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect",
            ])
            .arg(program);
            c
        }
        _ => Command::new(program),
    };
    if check() == Check::Asan {
        cmd.env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=98",
        );
    }
    cmd.env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID");
    cmd
}

/// A temporary run directory.
fn run_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("netipc-ffi-")
        .tempdir()
        .unwrap()
}

/// A background process stopped (and checked) on drop.
struct Background {
    child: Option<Child>,
    /// Its standard output, with whatever was read ahead.
    stdout: Option<BufReader<ChildStdout>>,
    what: String,
    stop: Stop,
}

enum Stop {
    /// Close its standard input (the C provider).
    Stdin,
    /// SIGTERM (the CLI).
    Term,
}

impl Background {
    /// Starts `cmd` and reads its standard output up to the first line
    /// that contains `ready` (failing if it ends first).
    fn start(mut cmd: Command, what: &str, ready: &str, stop: Stop) -> Background {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not start; its output: {seen:?}");
            }
            seen.push_str(&line);
            if line.contains(ready) {
                break;
            }
        }
        Background {
            child: Some(child),
            stdout: Some(stdout),
            what: what.to_string(),
            stop,
        }
    }

    /// Stops it and returns the rest of its standard output; fails unless
    /// it exits 0 within 60 s.
    fn finish(mut self) -> String {
        let mut child = self.child.take().unwrap();
        match self.stop {
            Stop::Stdin => drop(child.stdin.take()),
            Stop::Term => {
                run_ok(
                    Command::new("kill")
                        .arg("-TERM")
                        .arg(child.id().to_string()),
                );
            }
        }
        let mut rest = String::new();
        let mut stdout = self.stdout.take().unwrap();
        stdout.read_to_string(&mut rest).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status}: {rest}",
                    self.what
                );
                return rest;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn c_provider(
    kind: &str,
    dir: &Path,
    service: &str,
    token: &str,
    items: usize,
    profile: &str,
) -> Background {
    let mut cmd = c_program(&programs().provider);
    cmd.arg(kind)
        .arg(dir)
        .arg(service)
        .arg(token)
        .arg(items.to_string())
        .arg(profile);
    Background::start(cmd, &format!("C {kind} provider"), "listening", Stop::Stdin)
}

fn c_consumer(
    mode: &str,
    dir: &Path,
    service: &str,
    token: &str,
    profile: &str,
    arg: &str,
) -> String {
    let out = run_ok(
        c_program(&programs().consumer)
            .arg(mode)
            .arg(dir)
            .arg(service)
            .arg(token)
            .arg(profile)
            .arg(arg),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn api_in_one_process() {
    let dir = run_dir();
    let out = run_ok(c_program(&programs().api).arg(dir.path()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("api ok"));
}

#[test]
fn lookup_api_in_one_process() {
    let dir = run_dir();
    let out = run_ok(c_program(&programs().lookup).arg(dir.path()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("lookup ok"));
}

#[test]
fn provider_served_on_a_thread_the_program_owns() {
    let dir = run_dir();
    let out = run_ok(c_program(&programs().own_thread).arg(dir.path()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("own_thread ok"));
}

fn two_processes(profile: &str) {
    let dir = run_dir();
    // The lookups ask for more keys than one request holds: the client
    // splits them and stitches the answers.
    for (kind, mode, items) in [
        ("increment", "increment", 0),
        ("string-reverse", "string-reverse", 0),
        ("snapshot", "snapshot", 500),
        ("cgroups-lookup", "cgroups-lookup", 5000),
        ("apps-lookup", "apps-lookup", 5000),
    ] {
        let provider = c_provider(kind, dir.path(), kind, TOKEN, items, profile);
        let out = c_consumer(mode, dir.path(), kind, TOKEN, profile, &items.to_string());
        assert!(out.contains(&format!("consumer {mode} ok")), "{out}");
        let rest = provider.finish();
        assert!(rest.contains("requests="), "{rest}");
        assert!(!rest.contains("requests=0\n"), "{rest}");
    }
}

#[test]
fn provider_and_consumer_in_two_processes_over_uds() {
    two_processes("uds");
}

#[test]
fn provider_and_consumer_in_two_processes_over_shm() {
    two_processes("shm");
}

#[test]
fn wrong_token_is_rejected_across_processes() {
    let dir = run_dir();
    let provider = c_provider("increment", dir.path(), "inc", TOKEN, 0, "uds");
    c_consumer("auth-rejected", dir.path(), "inc", "1234", "uds", "");
    provider.finish();
}

fn cli_cmd() -> Command {
    let mut cmd = Command::new(&built().cli);
    cmd.env_remove("NETDATA_INVOCATION_ID")
        .env_remove("INVOCATION_ID");
    cmd
}

#[test]
fn c_consumer_against_the_rust_cli() {
    let dir = run_dir();
    let mut serve = cli_cmd();
    serve
        .args(["serve", "increment", "--token", TOKEN, "--run-dir"])
        .arg(dir.path());
    let provider = Background::start(serve, "netipc serve increment", "serving", Stop::Term);
    for profile in ["uds", "shm"] {
        c_consumer("increment", dir.path(), "increment", TOKEN, profile, "");
    }
    c_consumer("auth-rejected", dir.path(), "increment", "77", "uds", "");
    provider.finish();

    let root = tempfile::tempdir().unwrap();
    for name in ["system.slice", "system.slice/sshd.service"] {
        std::fs::create_dir_all(root.path().join(name)).unwrap();
        std::fs::write(root.path().join(name).join("cgroup.procs"), b"").unwrap();
    }
    let mut serve = cli_cmd();
    serve
        .args([
            "serve",
            "cgroups-snapshot",
            "--token",
            TOKEN,
            "--cgroup-root",
        ])
        .arg(root.path())
        .arg("--run-dir")
        .arg(dir.path());
    let provider = Background::start(
        serve,
        "netipc serve cgroups-snapshot",
        "serving",
        Stop::Term,
    );
    for profile in ["uds", "shm"] {
        let out = c_consumer(
            "cgroups",
            dir.path(),
            "cgroups-snapshot",
            TOKEN,
            profile,
            "system.slice/sshd.service",
        );
        assert!(out.contains("found system.slice/sshd.service"), "{out}");
    }
    provider.finish();
}

#[test]
fn c_consumer_against_the_rust_cli_lookups() {
    for service in ["cgroups-lookup", "apps-lookup"] {
        let dir = run_dir();
        let mut serve = cli_cmd();
        serve
            .args(["serve", service, "--token", TOKEN, "--run-dir"])
            .arg(dir.path());
        let provider = Background::start(
            serve,
            &format!("netipc serve {service}"),
            "serving",
            Stop::Term,
        );
        for profile in ["uds", "shm"] {
            let mode = format!("cli-{service}");
            let out = c_consumer(&mode, dir.path(), service, TOKEN, profile, "");
            assert!(out.contains(&format!("consumer {mode} ok")), "{out}");
        }
        provider.finish();
    }
}

#[test]
fn rust_cli_against_the_c_lookup_providers() {
    let dir = run_dir();
    let provider = c_provider(
        "cgroups-lookup",
        dir.path(),
        "cgroups-lookup",
        TOKEN,
        0,
        "shm",
    );
    let out = run_ok(
        cli_cmd()
            .args(["cgroups-lookup", "--json", "--token", TOKEN, "--run-dir"])
            .arg(dir.path())
            .args(["/sys/fs/cgroup/c-3", "/sys/fs/cgroup/c-4"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("name-3"), "{text}");
    assert!(text.contains("UNKNOWN_RETRY_LATER"), "{text}");
    provider.finish();

    let provider = c_provider("apps-lookup", dir.path(), "apps-lookup", TOKEN, 0, "uds");
    let out = run_ok(
        cli_cmd()
            .args(["apps-lookup", "--json", "--token", TOKEN, "--run-dir"])
            .arg(dir.path())
            .args(["8", "9"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("comm-8") && text.contains("app-8"), "{text}");
    assert!(text.contains("UNKNOWN"), "{text}");
    provider.finish();
}

#[test]
fn rust_cli_against_the_c_provider() {
    let dir = run_dir();
    let provider = c_provider("snapshot", dir.path(), "cgroups-snapshot", TOKEN, 20, "shm");
    let out = run_ok(
        cli_cmd()
            .args(["snapshot", "--json", "--token", TOKEN, "--run-dir"])
            .arg(dir.path()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for i in [0, 19] {
        let name = format!("slice-{}.slice/unit-{i}.scope", i % 7);
        assert!(text.contains(&name), "{name} missing from {text}");
    }
    assert!(!text.contains("unit-20.scope"), "{text}");
    provider.finish();

    let provider = c_provider("increment", dir.path(), "increment", TOKEN, 0, "uds");
    for shm in [false, true] {
        let mut ping = cli_cmd();
        ping.args(["ping", "--count", "50", "--token", TOKEN, "--run-dir"])
            .arg(dir.path());
        if shm {
            ping.arg("--shm");
        }
        run_ok(&mut ping);
    }
    let out = cli_cmd()
        .args(["ping", "--count", "1", "--token", "99", "--run-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "wrong token: exit code 4");
    provider.finish();
}

/// Runs `pkg-config ARGS netipc` against an installed prefix.
fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = run_ok(
        Command::new("pkg-config")
            .args(args)
            .arg("netipc")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn examples_build_and_run_against_an_installed_prefix() {
    let prefix = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("bash")
            .arg(crate_dir().join("install.sh"))
            .arg(prefix.path())
            .env("NETIPC_LIB_DIR", lib_dir()),
    );
    let lib = prefix.path().join("lib");
    assert!(lib.join("libnetipc.a").exists());
    assert_eq!(
        std::fs::read_link(lib.join("libnetipc.so.0")).unwrap(),
        Path::new(&format!("libnetipc.so.{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        pkg_config(prefix.path(), &["--modversion"]),
        [env!("CARGO_PKG_VERSION")]
    );
    let flags = pkg_config(prefix.path(), &["--cflags", "--libs"]);
    assert!(flags.contains(&"-lnetipc".to_string()), "{flags:?}");
    assert!(pkg_config(prefix.path(), &["--static", "--libs"]).contains(&"-lpthread".to_string()));

    let bin = prefix.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for example in ["snapshot_provider", "ebpf_consumer"] {
        run_ok(
            Command::new("cc")
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
                .arg(workspace_dir().join(format!("examples/c/{example}.c")))
                .arg("-o")
                .arg(bin.join(example))
                .args(&flags),
        );
    }

    let root = tempfile::tempdir().unwrap();
    for name in ["system.slice/sshd.service", "user.slice"] {
        std::fs::create_dir_all(root.path().join(name)).unwrap();
    }
    let dir = run_dir();
    let example = |name: &str| {
        let mut cmd = Command::new(bin.join(name));
        cmd.env("LD_LIBRARY_PATH", &lib)
            .env(
                "NETDATA_INVOCATION_ID",
                "550e8400-e29b-41d4-a716-446655440000",
            )
            .arg(dir.path());
        cmd
    };
    let mut cmd = example("snapshot_provider");
    cmd.arg(root.path());
    let provider = Background::start(cmd, "snapshot_provider", "serving", Stop::Term);
    let consumer = Background::start(
        example("ebpf_consumer"),
        "ebpf_consumer",
        "snapshot: 3 cgroups, generation 1",
        Stop::Term,
    );
    let rest = consumer.finish();
    assert!(rest.contains("shm yes"), "{rest}");
    assert!(rest.trim_end().ends_with("closed"), "{rest}");
    let rest = provider.finish();
    assert!(rest.contains("stopped after 1 requests"), "{rest}");
}
