//! The `netipc-bench` benchmark driver.

fn main() {
    eprintln!("netipc-bench: not built yet");
    std::process::exit(2);
}
