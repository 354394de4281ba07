//! `bench/report.py`: a real command line that writes only when asked.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn report(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(root().join("bench/report.py"))
        .args(args)
        .output()
        .expect("python3 runs")
}

#[test]
fn help_and_the_default_run_write_nothing() {
    let doc = root().join("docs/benchmarks.md");
    let before = std::fs::read(&doc).unwrap();
    let modified = std::fs::metadata(&doc).unwrap().modified().unwrap();

    let out = report(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("usage: bench/report.py"), "{text}");
    assert!(text.contains("--write"), "{text}");

    let out = report(&[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("# Benchmarks\n"));

    let out = report(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));

    assert_eq!(std::fs::read(&doc).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&doc).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn write_goes_where_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("b.md");
    let out = report(&[
        "--write",
        "--no-plots",
        "--output",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("# Benchmarks\n"), "{text}");
    assert!(text.contains("no plots"), "{text}");
}
