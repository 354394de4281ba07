//! UDS SEQPACKET sessions: send/receive, chunking, in-flight ids.
