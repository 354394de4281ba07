//! Keys per sub-call (PROTOCOL-LOOKUP §18.3): only the request size
//! counts; response overflow is the server's PAYLOAD_EXCEEDED suffix.

use crate::codec::lookup::common::{ENTRY_LEN, HEADER_LEN};

/// CGROUPS_LOOKUP: the largest `k ≤ paths.len()` whose request (§15.1:
/// `16 + 8k`, then each key at the next multiple of 8) is at most `cap`
/// bytes; 0 when the first path alone does not fit.
///
/// The size grows with `k`, so the first `k` that does not fit ends the
/// scan; the result is the one a binary search finds, in one pass.
pub(crate) fn cgroups_keys<P: AsRef<[u8]>>(paths: &[P], cap: u32) -> usize {
    let cap = u64::from(cap);
    let mut area = 0u64;
    for (k, path) in paths.iter().enumerate() {
        area = ((area + 7) & !7) + path.as_ref().len() as u64 + 1;
        let size = (HEADER_LEN + ENTRY_LEN * (k + 1)) as u64 + area;
        if size > cap {
            return k;
        }
    }
    paths.len()
}

/// APPS_LOOKUP: `min(remaining, (cap − 16) / 16)` keys (§18.3); `None`
/// when `cap` cannot carry one key (`cap < 32`).
pub(crate) fn apps_keys(remaining: usize, cap: u32) -> Option<usize> {
    if cap < 32 {
        return None;
    }
    Some(remaining.min(((cap - 16) / 16) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lookup::cgroups_lookup::request_len;

    #[test]
    fn cgroups_fill_to_the_limit() {
        // The specification's example: 44-byte paths, 1 024 bytes → 18.
        let paths = vec![[b'a'; 44]; 40];
        assert_eq!(cgroups_keys(&paths, 1_024), 18);
        assert!(request_len(&paths[..18]) <= 1_024);
        assert!(request_len(&paths[..19]) > 1_024);
        assert_eq!(cgroups_keys(&paths[..5], 1_024), 5);
        let empty: [&[u8]; 0] = [];
        assert_eq!(cgroups_keys(&empty, 1_024), 0);
        // One path of 1 000 bytes needs 16 + 8 + 1 001.
        assert_eq!(cgroups_keys(&[[b'x'; 1_000]], 1_024), 0);
        assert_eq!(cgroups_keys(&[[b'x'; 1_000]], 1_025), 1);
    }

    #[test]
    fn cgroups_match_request_len_for_mixed_paths() {
        let paths: Vec<Vec<u8>> = (1..200).map(|n| vec![b'p'; n * 7 % 61 + 1]).collect();
        for cap in [24, 40, 100, 512, 1_024, 4_096] {
            let k = cgroups_keys(&paths, cap);
            assert!(request_len(&paths[..k]) <= u64::from(cap) || k == 0);
            if k < paths.len() {
                assert!(request_len(&paths[..k + 1]) > u64::from(cap), "cap {cap}");
            }
        }
    }

    #[test]
    fn apps_keys_per_request() {
        assert_eq!(apps_keys(1_000, 1_024), Some(63));
        assert_eq!(apps_keys(10, 1_024), Some(10));
        assert_eq!(apps_keys(0, 1_024), Some(0));
        assert_eq!(apps_keys(5, 32), Some(1));
        assert_eq!(apps_keys(5, 31), None);
    }
}
