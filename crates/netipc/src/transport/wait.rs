//! The wait strategy used by receivers: spin for a window, then block.
