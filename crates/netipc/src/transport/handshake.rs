//! The HELLO / HELLO_ACK handshake.
