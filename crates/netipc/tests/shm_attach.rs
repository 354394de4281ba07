//! Attach validation (PROTOCOL §7.5): one crafted file per rule.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use netipc::transport::shm::{
    BadSizeReason, NotReadyReason, RegionLayout, ShmError, ShmRegion, ShmRole,
};
use netipc::transport::wait::Waiter;
use support::*;

fn craft(dir: &Path, c: Crafted) -> PathBuf {
    c.write(&dir.join("a-0000000000000001.ipcshm"))
}

fn attach(c: Crafted) -> Result<ShmRegion, ShmError> {
    let dir = tempfile::tempdir().unwrap();
    let path = craft(dir.path(), c);
    ShmRegion::attach(path)
}

fn not_ready(c: Crafted) -> NotReadyReason {
    match attach(c) {
        Err(ShmError::NotReady { reason, .. }) => reason,
        other => panic!("expected NotReady, got {other:?}"),
    }
}

fn bad_size(c: Crafted) -> BadSizeReason {
    match attach(c) {
        Err(ShmError::BadSize {
            reason,
            layout,
            file_size,
            ..
        }) => {
            assert_eq!(file_size, c.file_size);
            assert_eq!(
                layout,
                RegionLayout {
                    request_offset: c.request_offset,
                    request_capacity: c.request_capacity,
                    response_offset: c.response_offset,
                    response_capacity: c.response_capacity,
                }
            );
            reason
        }
        other => panic!("expected BadSize, got {other:?}"),
    }
}

#[test]
fn valid_crafted_region_attaches() {
    let dir = tempfile::tempdir().unwrap();
    let path = craft(dir.path(), Crafted::default());
    let r = ShmRegion::attach(&path).unwrap();
    assert_eq!(r.role(), ShmRole::Client);
    assert_eq!(r.request_capacity(), 128);
    assert_eq!(r.response_capacity(), 128);
    assert_eq!(r.max_send_payload(), 96);
    assert_eq!(r.path(), path);
    drop(r);
    assert!(path.exists(), "a client must never unlink");
}

#[test]
fn larger_file_than_needed_is_fine() {
    assert!(attach(Crafted {
        file_size: 4096,
        ..Crafted::default()
    })
    .is_ok());
}

#[test]
fn gap_between_areas_is_fine() {
    assert!(attach(Crafted {
        response_offset: 512,
        file_size: 640,
        ..Crafted::default()
    })
    .is_ok());
}

#[test]
fn empty_file_is_not_ready() {
    assert_eq!(
        not_ready(Crafted {
            file_size: 0,
            ..Crafted::default()
        }),
        NotReadyReason::FileTooSmall { size: 0 }
    );
}

#[test]
fn file_shorter_than_header_is_not_ready() {
    assert_eq!(
        not_ready(Crafted {
            file_size: 63,
            ..Crafted::default()
        }),
        NotReadyReason::FileTooSmall { size: 63 }
    );
}

#[test]
fn bad_magic() {
    match attach(Crafted {
        magic: 0x4e49_5043,
        ..Crafted::default()
    }) {
        Err(ShmError::BadMagic { found, .. }) => assert_eq!(found, 0x4e49_5043),
        other => panic!("{other:?}"),
    }
}

#[test]
fn all_zero_header_is_bad_magic() {
    match attach(Crafted {
        magic: 0,
        version: 0,
        header_len: 0,
        request_offset: 0,
        request_capacity: 0,
        response_offset: 0,
        response_capacity: 0,
        ..Crafted::default()
    }) {
        Err(ShmError::BadMagic { found: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_version() {
    for v in [0, 1, 2, 4, u16::MAX] {
        match attach(Crafted {
            version: v,
            ..Crafted::default()
        }) {
            Err(ShmError::BadVersion { found, .. }) => assert_eq!(found, v),
            other => panic!("version {v}: {other:?}"),
        }
    }
}

#[test]
fn bad_header_len() {
    for h in [0, 32, 63, 65, 128] {
        match attach(Crafted {
            header_len: h,
            ..Crafted::default()
        }) {
            Err(ShmError::BadHeaderLen { found, .. }) => assert_eq!(found, h),
            other => panic!("header_len {h}: {other:?}"),
        }
    }
}

#[test]
fn request_offset_inside_header_is_not_ready() {
    for off in [0, 32] {
        assert_eq!(
            not_ready(Crafted {
                request_offset: off,
                ..Crafted::default()
            }),
            NotReadyReason::RequestOffsetInHeader
        );
    }
}

#[test]
fn zero_request_capacity_is_not_ready() {
    assert_eq!(
        not_ready(Crafted {
            request_capacity: 0,
            ..Crafted::default()
        }),
        NotReadyReason::ZeroRequestCapacity
    );
}

#[test]
fn response_offset_inside_header_is_not_ready() {
    assert_eq!(
        not_ready(Crafted {
            response_offset: 0,
            ..Crafted::default()
        }),
        NotReadyReason::ResponseOffsetInHeader
    );
}

#[test]
fn zero_response_capacity_is_not_ready() {
    assert_eq!(
        not_ready(Crafted {
            response_capacity: 0,
            ..Crafted::default()
        }),
        NotReadyReason::ZeroResponseCapacity
    );
}

#[test]
fn misaligned_request_offset() {
    assert_eq!(
        bad_size(Crafted {
            request_offset: 96,
            response_offset: 256,
            file_size: 384,
            ..Crafted::default()
        }),
        BadSizeReason::Misaligned
    );
}

#[test]
fn misaligned_request_capacity() {
    assert_eq!(
        bad_size(Crafted {
            request_capacity: 100,
            ..Crafted::default()
        }),
        BadSizeReason::Misaligned
    );
}

#[test]
fn misaligned_response_offset() {
    assert_eq!(
        bad_size(Crafted {
            response_offset: 200,
            file_size: 328,
            ..Crafted::default()
        }),
        BadSizeReason::Misaligned
    );
}

#[test]
fn misaligned_response_capacity() {
    assert_eq!(
        bad_size(Crafted {
            response_capacity: 65,
            ..Crafted::default()
        }),
        BadSizeReason::Misaligned
    );
}

#[test]
fn request_area_overflowing_32_bits() {
    assert_eq!(
        bad_size(Crafted {
            request_offset: 0xffff_ffc0,
            request_capacity: 128,
            ..Crafted::default()
        }),
        BadSizeReason::Overflow
    );
}

#[test]
fn overlapping_areas() {
    // The response area starts inside the request area.
    assert_eq!(
        bad_size(Crafted {
            response_offset: 128,
            ..Crafted::default()
        }),
        BadSizeReason::Overlap
    );
    // The response area starts before the request area.
    assert_eq!(
        bad_size(Crafted {
            request_offset: 256,
            response_offset: 64,
            file_size: 1024,
            ..Crafted::default()
        }),
        BadSizeReason::Overlap
    );
}

#[test]
fn file_smaller_than_the_response_area() {
    assert_eq!(
        bad_size(Crafted {
            file_size: 319,
            ..Crafted::default()
        }),
        BadSizeReason::FileTooSmall
    );
}

#[test]
fn file_smaller_than_the_request_area() {
    assert_eq!(
        bad_size(Crafted {
            request_capacity: 1024,
            response_offset: 1088,
            file_size: 128,
            ..Crafted::default()
        }),
        BadSizeReason::FileTooSmall
    );
}

#[test]
fn huge_declared_areas_in_a_small_file() {
    assert_eq!(
        bad_size(Crafted {
            request_capacity: 0x7fff_ffc0,
            response_offset: 0x8000_0000,
            response_capacity: 0x7fff_ffc0,
            ..Crafted::default()
        }),
        BadSizeReason::FileTooSmall
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    match ShmRegion::attach(dir.path().join("nope-0000000000000001.ipcshm")) {
        Err(ShmError::Io { op, source, .. }) => {
            assert_eq!(op, "open");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be opened read-write.
    assert!(matches!(
        ShmRegion::attach(dir.path()),
        Err(ShmError::Io { op: "open", .. })
    ));
    // A symlink to a valid region is not followed.
    let target = craft(dir.path(), Crafted::default());
    let link = dir.path().join("l-0000000000000001.ipcshm");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(
        ShmRegion::attach(&link),
        Err(ShmError::Io { op: "open", .. })
    ));
}

#[test]
fn too_long_path_is_refused() {
    let long = PathBuf::from(format!("/tmp/{}", "x".repeat(251)));
    assert_eq!(long.as_os_str().len(), 256);
    assert!(matches!(
        ShmRegion::attach(&long),
        Err(ShmError::PathTooLong { len: 256, .. })
    ));
    assert!(matches!(
        ShmRegion::create(&long, 16, 16),
        Err(ShmError::PathTooLong { len: 256, .. })
    ));
}

#[test]
fn attach_starts_from_the_current_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s-0000000000000002.ipcshm");
    let mut server = ShmRegion::create(&path, 64, 64).unwrap();
    let mut waiter = Waiter::default();
    let mut buf = Vec::new();
    let t = Some(Duration::from_secs(10));

    let mut c1 = ShmRegion::attach(&path).unwrap();
    c1.send(&outer_header(KIND_REQUEST, 1, 1, 1), b"1").unwrap();
    server.recv(&mut buf, t, &mut waiter).unwrap();
    server
        .send(&outer_header(KIND_RESPONSE, 1, 1, 1), b"A")
        .unwrap();
    c1.recv(&mut buf, t, &mut waiter).unwrap();
    assert_eq!(&buf[32..], b"A");
    // One more response nobody consumes.
    server
        .send(&outer_header(KIND_RESPONSE, 1, 1, 9), b"Z")
        .unwrap();
    drop(c1);

    // A new client starts from the current counters: it does not see the
    // stale response, and its request is the server's next one.
    let mut c2 = ShmRegion::attach(&path).unwrap();
    c2.send(&outer_header(KIND_REQUEST, 1, 1, 2), b"2").unwrap();
    server.recv(&mut buf, t, &mut waiter).unwrap();
    assert_eq!(&buf[32..], b"2");
    assert!(matches!(
        c2.recv(&mut buf, Some(Duration::from_millis(20)), &mut waiter),
        Err(ShmError::Timeout { .. })
    ));
    server
        .send(&outer_header(KIND_RESPONSE, 1, 1, 2), b"B")
        .unwrap();
    c2.recv(&mut buf, t, &mut waiter).unwrap();
    assert_eq!(&buf[32..], b"B");
}
