//! `include/netipc.h` is generated from this crate and checked in: this test
//! regenerates it and fails when the checked-in copy has drifted
//! (`NETIPC_BLESS=1 cargo test -p netipc-ffi --test header` rewrites it),
//! then checks that it compiles on its own as C11 and as C++.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../../include/netipc.h")
}

fn generate() -> String {
    let config = cbindgen::Config::from_file(crate_dir().join("cbindgen.toml"))
        .expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn checked_in_header_is_up_to_date() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("NETIPC_BLESS").is_some() {
        // Atomically: the other tests of this file read the header.
        let tmp = path.with_extension("h.new");
        std::fs::write(&tmp, &fresh).expect("write include/netipc.h.new");
        std::fs::rename(&tmp, &path).expect("replace include/netipc.h");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/netipc.h differs from what cbindgen generates from crates/netipc-ffi; \
         regenerate it with NETIPC_BLESS=1 cargo test -p netipc-ffi --test header"
    );
}

/// Compiles `source` with `compiler` and `flags`, failing with its output.
fn compile(compiler: &str, flags: &[&str], dir: &Path, file: &str, source: &str) {
    let src = dir.join(file);
    std::fs::write(&src, source).unwrap();
    let out = Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("../../include"))
        .arg(&src)
        .arg("-o")
        .arg(dir.join(format!("{file}.o")))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {flags:?} {file} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn header_is_self_contained_c11_and_cpp() {
    let dir = tempfile::tempdir().unwrap();
    compile(
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"],
        dir.path(),
        "only.c",
        "#include <netipc.h>\n",
    );
    // Included twice: the include guard works.
    compile(
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror", "-c"],
        dir.path(),
        "twice.c",
        "#include <netipc.h>\n#include <netipc.h>\nint f(void) { return NETIPC_OK; }\n",
    );
    compile(
        "c++",
        &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"],
        dir.path(),
        "only.cpp",
        "#include <netipc.h>\nint main() { netipc_client *c = nullptr; netipc_client_free(c); return NETIPC_OK; }\n",
    );
}

/// The functions the header declares: lines that start a declaration
/// (not indented, not a comment, directive or typedef) naming `netipc_*(`.
fn declared_functions(header: &str) -> Vec<String> {
    header
        .lines()
        .filter(|l| {
            !l.is_empty() && !l.starts_with([' ', '\t', '/', '*', '#']) && !l.starts_with("typedef")
        })
        .filter_map(|l| {
            let open = l.find('(')?;
            let before = &l[..open];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &before[start..];
            name.starts_with("netipc_").then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_declared_function_is_called_by_the_c_tests() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let functions = declared_functions(&header);
    assert!(
        functions.len() > 50,
        "only {} functions found",
        functions.len()
    );
    let mut sources = String::new();
    for entry in std::fs::read_dir(crate_dir().join("tests/c")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "c") {
            sources.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let missing: Vec<_> = functions
        .iter()
        .filter(|f| !sources.contains(&format!("{f}(")))
        .collect();
    assert!(missing.is_empty(), "not called by tests/c/*.c: {missing:?}");
}
