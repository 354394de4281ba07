//! Golden vectors for the envelope, handshake and batch layers: our encoder
//! reproduces every vector byte for byte, our decoder gives back the inputs,
//! and every vector truncated by one byte is rejected.
#![cfg(target_endian = "little")]

mod support;

use netipc::wire::{
    BatchBuilder, BatchView, ChunkHeader, Flags, Header, Hello, HelloAck, Kind, Profiles,
    WireError, HEADER_LEN,
};
use serde_json::Value;
use support::vectors::{load, WIRE_AND_CODEC};

fn vector(name: &str) -> (Value, Vec<u8>) {
    let v = load(WIRE_AND_CODEC)
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("vector {name} missing"));
    (v.inputs, v.bytes)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("input {key} missing"))
}

fn header_from(inputs: &Value) -> Header {
    assert_eq!(u(inputs, "magic"), 0x4e49_5043);
    assert_eq!(u(inputs, "version"), 1);
    assert_eq!(u(inputs, "header_len"), 32);
    Header {
        kind: Kind::try_from(u(inputs, "kind") as u16).unwrap(),
        flags: Flags(u(inputs, "flags") as u16),
        code: u(inputs, "code") as u16,
        transport_status: u(inputs, "transport_status") as u16,
        payload_len: u(inputs, "payload_len") as u32,
        item_count: u(inputs, "item_count") as u32,
        message_id: u(inputs, "message_id"),
    }
}

fn hello_from(inputs: &Value) -> Hello {
    assert_eq!(u(inputs, "layout_version"), 1);
    assert_eq!(u(inputs, "flags"), 0);
    assert_eq!(u(inputs, "reserved"), 0);
    Hello {
        supported_profiles: Profiles(u(inputs, "supported_profiles") as u32),
        preferred_profiles: Profiles(u(inputs, "preferred_profiles") as u32),
        max_request_payload_bytes: u(inputs, "max_request_payload_bytes") as u32,
        max_request_batch_items: u(inputs, "max_request_batch_items") as u32,
        max_response_payload_bytes: u(inputs, "max_response_payload_bytes") as u32,
        max_response_batch_items: u(inputs, "max_response_batch_items") as u32,
        auth_token: u(inputs, "auth_token"),
        packet_size: u(inputs, "packet_size") as u32,
    }
}

fn hello_ack_from(inputs: &Value) -> HelloAck {
    assert_eq!(u(inputs, "layout_version"), 1);
    assert_eq!(u(inputs, "flags"), 0);
    assert_eq!(u(inputs, "reserved"), 0);
    HelloAck {
        server_supported_profiles: Profiles(u(inputs, "server_supported_profiles") as u32),
        intersection_profiles: Profiles(u(inputs, "intersection_profiles") as u32),
        selected_profile: Profiles(u(inputs, "selected_profile") as u32),
        agreed_max_request_payload_bytes: u(inputs, "agreed_max_request_payload_bytes") as u32,
        agreed_max_request_batch_items: u(inputs, "agreed_max_request_batch_items") as u32,
        agreed_max_response_payload_bytes: u(inputs, "agreed_max_response_payload_bytes") as u32,
        agreed_max_response_batch_items: u(inputs, "agreed_max_response_batch_items") as u32,
        agreed_packet_size: u(inputs, "agreed_packet_size") as u32,
        session_id: u(inputs, "session_id"),
    }
}

/// A STRING_REVERSE item as the protocol lays it out, built by hand here so
/// the wire tests do not depend on the codec layer.
fn string_item(s: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&8u32.to_ne_bytes());
    b.extend_from_slice(&(s.len() as u32).to_ne_bytes());
    b.extend_from_slice(s.as_bytes());
    b.push(0);
    b
}

fn build_batch(items: &[Vec<u8>]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut builder = BatchBuilder::new(&mut buf, items.len() as u32).unwrap();
    for item in items {
        builder.push(item).unwrap();
    }
    let len = builder.finish().unwrap();
    assert_eq!(len as usize, buf.len());
    buf
}

#[test]
fn outer_headers() {
    for name in [
        "header_request_increment",
        "header_response_cgroups_limit_exceeded",
    ] {
        let (inputs, bytes) = vector(name);
        let header = header_from(&inputs);
        assert_eq!(header.encode().as_slice(), bytes.as_slice(), "{name}");
        assert_eq!(Header::decode(&bytes).unwrap(), header, "{name}");
        assert!(matches!(
            Header::decode(&bytes[..bytes.len() - 1]),
            Err(WireError::Truncated { .. })
        ));
    }
}

#[test]
fn chunk_header() {
    let (inputs, bytes) = vector("chunk_continuation_header");
    assert_eq!(u(&inputs, "magic"), 0x4e43_484b);
    assert_eq!(u(&inputs, "version"), 1);
    assert_eq!(u(&inputs, "flags"), 0);
    let chunk = ChunkHeader {
        message_id: u(&inputs, "message_id"),
        total_message_len: u(&inputs, "total_message_len") as u32,
        chunk_index: u(&inputs, "chunk_index") as u32,
        chunk_count: u(&inputs, "chunk_count") as u32,
        chunk_payload_len: u(&inputs, "chunk_payload_len") as u32,
    };
    assert_eq!(chunk.encode().as_slice(), bytes.as_slice());
    assert_eq!(ChunkHeader::decode(&bytes).unwrap(), chunk);
    assert!(matches!(
        ChunkHeader::decode(&bytes[..31]),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn hello_and_ack() {
    let (inputs, bytes) = vector("hello");
    let hello = hello_from(&inputs);
    assert_eq!(hello.encode().as_slice(), bytes.as_slice());
    assert_eq!(Hello::decode(&bytes).unwrap(), hello);
    assert!(Hello::decode(&bytes[..43]).is_err());

    let (inputs, bytes) = vector("hello_ack");
    let ack = hello_ack_from(&inputs);
    assert_eq!(ack.encode().as_slice(), bytes.as_slice());
    assert_eq!(HelloAck::decode(&bytes).unwrap(), ack);
    assert!(HelloAck::decode(&bytes[..47]).is_err());
}

#[test]
fn batches() {
    let (inputs, bytes) = vector("batch_increment_1_2_3");
    assert_eq!(inputs["item_codec"], "increment");
    let values: Vec<u64> = inputs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(u(&inputs, "item_count"), values.len() as u64);
    let items: Vec<Vec<u8>> = values.iter().map(|v| v.to_ne_bytes().to_vec()).collect();
    assert_eq!(build_batch(&items), bytes);
    let view = BatchView::new(&bytes, 3).unwrap();
    let decoded: Vec<u64> = view
        .iter()
        .map(|item| u64::from_ne_bytes(item.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, values);

    let (inputs, bytes) = vector("batch_string_reverse_ab_xyz");
    assert_eq!(inputs["item_codec"], "string_reverse");
    let strings: Vec<&str> = inputs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let items: Vec<Vec<u8>> = strings.iter().map(|s| string_item(s)).collect();
    assert_eq!(build_batch(&items), bytes);
    let view = BatchView::new(&bytes, 2).unwrap();
    for (i, s) in strings.iter().enumerate() {
        assert_eq!(view.get(i).unwrap(), string_item(s).as_slice());
    }
}

#[test]
fn batch_truncated_by_one_byte() {
    // Truncating the final padding byte leaves a valid unpadded batch (the
    // protocol asks decoders to accept a missing final pad), so truncation
    // must be tested where it cuts into an item.
    let (_, bytes) = vector("batch_increment_1_2_3");
    assert!(matches!(
        BatchView::new(&bytes[..bytes.len() - 1], 3),
        Err(WireError::BatchItemOutOfBounds { index: 2, .. })
    ));
    let (_, bytes) = vector("batch_string_reverse_ab_xyz");
    let cut = &bytes[..bytes.len() - 1];
    // 47 bytes: the last item (12 bytes at offset 16 of the area) still fits,
    // only padding was cut: accepted, as the protocol requires.
    assert!(BatchView::new(cut, 2).is_ok());
    // Cutting into the item itself is rejected.
    let cut = &bytes[..16 + 16 + 11];
    assert!(matches!(
        BatchView::new(cut, 2),
        Err(WireError::BatchItemOutOfBounds { index: 1, .. })
    ));
}

#[test]
fn whole_frames() {
    for (name, payload_name) in [
        ("frame_hello", "hello"),
        ("frame_hello_ack", "hello_ack"),
        ("frame_request_batch_increment", "batch_increment_1_2_3"),
    ] {
        let (inputs, bytes) = vector(name);
        assert_eq!(inputs["payload_vector"], payload_name);
        let header = header_from(&inputs["header"]);
        let (_, payload) = vector(payload_name);
        let mut frame = header.encode().to_vec();
        frame.extend_from_slice(&payload);
        assert_eq!(frame, bytes, "{name}");

        let decoded = Header::decode(&bytes).unwrap();
        assert_eq!(decoded, header);
        let body = &bytes[HEADER_LEN..];
        assert_eq!(body.len(), decoded.payload_len as usize);
        match name {
            "frame_hello" => {
                assert_eq!(Hello::decode(body).unwrap(), hello_from(&vector("hello").0))
            }
            "frame_hello_ack" => assert_eq!(
                HelloAck::decode(body).unwrap(),
                hello_ack_from(&vector("hello_ack").0)
            ),
            _ => {
                assert!(decoded.is_batch());
                let view = BatchView::new(body, decoded.item_count).unwrap();
                assert_eq!(view.len(), 3);
            }
        }
        assert!(Header::decode(&bytes[..HEADER_LEN - 1]).is_err());
        // The frame cut by one byte no longer carries payload_len bytes.
        let cut_body = &bytes[HEADER_LEN..bytes.len() - 1];
        assert!(cut_body.len() < decoded.payload_len as usize);
        match name {
            "frame_hello" => assert!(Hello::decode(cut_body).is_err()),
            "frame_hello_ack" => assert!(HelloAck::decode(cut_body).is_err()),
            _ => {}
        }
    }
}

#[test]
fn every_wire_vector_is_covered() {
    let covered = [
        "header_request_increment",
        "header_response_cgroups_limit_exceeded",
        "chunk_continuation_header",
        "hello",
        "hello_ack",
        "batch_increment_1_2_3",
        "batch_string_reverse_ab_xyz",
        "frame_hello",
        "frame_hello_ack",
        "frame_request_batch_increment",
    ];
    for v in load(WIRE_AND_CODEC) {
        if v.raw["layer"] != "codec" {
            let name = v.name.as_str();
            assert!(covered.contains(&name), "wire vector {name} has no test");
        }
    }
}
