//! Level 2: typed clients and the managed server.
