//! Endpoint paths, service-name validation, listener and stale-socket recovery.
