//! A minimal test runner: each test is a function that panics on failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// One named test.
pub type Test = (&'static str, fn());

/// Runs the tests whose name contains `filter`; returns the exit status.
pub fn run(tests: &[Test], filter: &str) -> i32 {
    // The default hook prints the panic message; keep it, it is the
    // failure's explanation.
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (name, f) in tests.iter().filter(|(n, _)| n.contains(filter)) {
        let start = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(f));
        let ms = start.elapsed().as_millis();
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok     {name} ({ms} ms)");
            }
            Err(_) => {
                failed += 1;
                failures.push(*name);
                println!("FAILED {name} ({ms} ms)");
            }
        }
    }
    for name in &failures {
        println!("failed: {name}");
    }
    println!("{passed} passed, {failed} failed");
    i32::from(failed > 0 || passed == 0)
}
