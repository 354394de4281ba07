//! Gives the shared library the soname `libnetipc.so.<ABI>`, so programs
//! linked against it keep working across compatible updates and refuse an
//! incompatible one.

/// Bumped whenever the C ABI changes incompatibly (also in `install.sh`
/// and `netipc.pc.in`).
const ABI_MAJOR: u32 = 0;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnetipc.so.{ABI_MAJOR}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
