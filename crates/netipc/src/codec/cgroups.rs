//! CGROUPS_SNAPSHOT (method code 2) request and response payloads.
