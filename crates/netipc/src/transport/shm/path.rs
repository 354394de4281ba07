//! The path-length limit of region files. Their names,
//! `{run_dir}/{service}-{session_id:016x}.ipcshm`, and the service-name rule
//! are [`Endpoint`](crate::transport::Endpoint)'s.

use std::path::Path;

use super::error::ShmError;

/// Paths of region files must be shorter than this many bytes.
pub const MAX_PATH_LEN: usize = 256;
pub use crate::transport::endpoint::REGION_SUFFIX;

pub(super) fn check_path_len(path: &Path) -> Result<(), ShmError> {
    let len = path.as_os_str().len();
    if len >= MAX_PATH_LEN {
        return Err(ShmError::PathTooLong {
            path: path.to_owned(),
            len,
        });
    }
    Ok(())
}
