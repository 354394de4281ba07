//! Library side of the `netipc` command-line tool.
//!
//! The binary's building blocks that are worth testing on their own live
//! here:
//!
//! | module | what it does |
//! |---|---|
//! | [`cgroupfs`] | discovers the cgroup hierarchy and scans it into cgroups snapshot items |

pub mod cgroupfs;
