//! Level 3: the cgroups snapshot cache.
