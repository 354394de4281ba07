//! Re-running this test binary as a child process that executes one test
//! only, directly, through a wrapper (`sh`, `unshare`) or as the
//! unprivileged user 65534 through `setpriv`.
//!
//! Child entry points are `#[ignore]`d tests, so that a normal run lists
//! them as ignored instead of passing them without doing anything; the
//! child is started with `--include-ignored`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Environment variable that turns a test binary into a child process.
pub const CHILD_ROLE: &str = "NETIPC_TEST_CHILD_ROLE";
/// Run directory handed to a child.
pub const CHILD_DIR: &str = "NETIPC_TEST_CHILD_DIR";
/// Service name handed to a child.
pub const CHILD_SERVICE: &str = "NETIPC_TEST_CHILD_SERVICE";

/// The uid and gid an unprivileged child runs as (`nobody`).
pub const NOBODY: u32 = 65534;

/// The arguments that make the test harness run exactly `test`, ignored or
/// not, on one thread and without capturing its output.
fn harness_args(test: &str) -> [&str; 5] {
    [
        "--exact",
        test,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]
}

fn this_binary() -> PathBuf {
    std::env::current_exe().expect("test binary path")
}

/// A command that runs only `test` of this test binary.
pub fn test_command(test: &str) -> Command {
    let mut cmd = Command::new(this_binary());
    cmd.args(harness_args(test));
    cmd
}

/// A command that runs only `test` of this test binary through `wrapper`
/// (a program and its arguments that end by executing the rest of its
/// command line).
pub fn wrapped_test_command<S: AsRef<OsStr>>(wrapper: &[S], test: &str) -> Command {
    let (prog, args) = wrapper.split_first().expect("a wrapper program");
    let mut cmd = Command::new(prog);
    cmd.args(args).arg(this_binary()).args(harness_args(test));
    cmd
}

/// True when this process may switch to [`NOBODY`] with `setpriv`: it runs
/// as root and `setpriv` (util-linux) is installed.
pub fn can_run_as_nobody() -> bool {
    rustix::process::geteuid().is_root() && which("setpriv").is_some()
}

/// The `setpriv` command line that runs the rest as uid and gid
/// [`NOBODY`] without supplementary groups.
pub fn as_nobody() -> [String; 5] {
    [
        "setpriv".to_owned(),
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_owned(),
        "--".to_owned(),
    ]
}

/// A command that runs only `test` of this test binary as [`NOBODY`]. The
/// binary must be reachable by that user (the build directory usually is:
/// mode 0755 directories).
pub fn nobody_test_command(test: &str) -> Command {
    wrapped_test_command(&as_nobody(), test)
}

/// The full path of `program` found in `PATH` (or `/usr/bin`, `/bin`).
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Re-runs the current test binary as a child process executing only the
/// test `entry`, which reads its role from the environment
/// ([`child_args`]).
pub fn spawn_child(entry: &str, role: &str, dir: &Path, service: &str) -> Child {
    test_command(entry)
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_SERVICE, service)
        .spawn()
        .expect("spawn child test process")
}

/// The role, directory and service when running as a child.
pub fn child_args() -> Option<(String, PathBuf, String)> {
    let role = std::env::var(CHILD_ROLE).ok()?;
    let dir = PathBuf::from(std::env::var(CHILD_DIR).ok()?);
    let service = std::env::var(CHILD_SERVICE).ok()?;
    Some((role, dir, service))
}
