//! Region files get mode 0600 whatever the umask.
//!
//! The umask is process-wide, so this is the only test in its binary.

use std::os::unix::fs::PermissionsExt;

use netipc::transport::shm::ShmRegion;
use rustix::fs::Mode;

#[test]
fn region_file_mode_is_0600_under_any_umask() {
    let dir = tempfile::tempdir().unwrap();
    let old = rustix::process::umask(Mode::empty());
    let mut modes = Vec::new();
    // Permissive (0000) and restrictive (0377, which alone would give 0400)
    // masks.
    for (i, mask) in [0o000, 0o022, 0o377, 0o777].into_iter().enumerate() {
        rustix::process::umask(Mode::from_raw_mode(mask));
        let p = dir.path().join(format!("m-{i:016x}.ipcshm"));
        let r = ShmRegion::create(&p, 16, 16);
        let mode = r
            .as_ref()
            .map(|_| std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777);
        modes.push((mask, mode.map_err(|e| e.to_string())));
    }
    rustix::process::umask(old);
    for (mask, mode) in modes {
        assert_eq!(mode, Ok(0o600), "umask {mask:o}");
    }
}
