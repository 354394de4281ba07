//! Library side of the `netipc` command-line tool.
//!
//! The binary's building blocks live here so they can be tested on their
//! own:
//!
//! | module | what it does |
//! |---|---|
//! | [`cgroupfs`] | discovers the cgroup hierarchy and scans it into cgroups snapshot items |
//! | [`cgroups_source`] | answers cgroups lookups (name, orchestrator, labels) from an index of the cgroup roots |
//! | [`cgroup_meta`] | orchestrator and labels of a cgroup, from its name |
//! | [`apps_source`] | answers apps lookups (ppid, uid, start time, comm, cgroup) from `/proc` |
//! | [`procfs`] | reads and parses `/proc/PID/{stat,status,cgroup}` |
//! | [`lookup_provider`] | request handlers of the `cgroups-lookup` and `apps-lookup` providers |
//! | [`provider`] | keeps the last scan encoded as a snapshot payload and serves it to request handlers |
//! | [`cli`] | the command line (clap) |
//! | [`commands`] | the subcommands: serve, snapshot, lookup, ping, status, demo |
//! | [`endpoint`] | run-directory checks and client states turned into errors |
//! | [`token`] | which auth token a command uses |
//! | [`exit`] | exit codes and one-line errors |
//! | [`format`](mod@format) | tables, JSON and numbers for people |
//! | [`latency`] | round-trip percentiles |
//! | [`signals`] | stopping cleanly on SIGINT/SIGTERM/SIGHUP |

#![forbid(unsafe_code)]

pub mod apps_source;
pub mod cgroup_meta;
pub mod cgroupfs;
pub mod cgroups_source;
pub mod cli;
pub mod commands;
pub mod endpoint;
pub mod exit;
pub mod format;
pub mod latency;
pub mod log;
pub mod lookup_provider;
pub mod probe;
pub mod procfs;
pub mod provider;
pub mod signals;
pub mod token;
