//! The `netipc` command-line tool.

fn main() {
    eprintln!("netipc: not built yet");
    std::process::exit(2);
}
