//! Library side of the `netipc` command-line tool.
//!
//! The binary's building blocks live here so they can be tested on their
//! own:
//!
//! | module | what it does |
//! |---|---|
//! | [`cgroupfs`] | discovers the cgroup hierarchy and scans it into cgroups snapshot items |
//! | [`provider`] | keeps the last scan encoded as a snapshot payload and serves it to request handlers |
//! | [`cli`] | the command line (clap) |
//! | [`commands`] | the subcommands: serve, snapshot, lookup, ping, status, demo |
//! | [`endpoint`] | run-directory checks and client states turned into errors |
//! | [`token`] | which auth token a command uses |
//! | [`exit`] | exit codes and one-line errors |
//! | [`format`](mod@format) | tables, JSON and numbers for people |
//! | [`latency`] | round-trip percentiles |
//! | [`signals`] | stopping cleanly on SIGINT/SIGTERM |

#![forbid(unsafe_code)]

pub mod cgroupfs;
pub mod cli;
pub mod commands;
pub mod endpoint;
pub mod exit;
pub mod format;
pub mod latency;
pub mod provider;
pub mod signals;
pub mod token;
