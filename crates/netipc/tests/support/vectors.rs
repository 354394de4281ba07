//! The protocol's golden vector files (`tests/data/*.json`): an array of
//! objects, each with a `name`, the bytes as `hex`, their `len` and the
//! field values (`inputs`) they encode.

use serde_json::Value;

/// The envelope, handshake and method-payload vectors.
pub const WIRE_AND_CODEC: &str = "netipc-v1-vectors.json";
/// The CGROUPS_LOOKUP and APPS_LOOKUP vectors.
pub const LOOKUP: &str = "netipc-v1-lookup-vectors.json";

/// One golden vector.
pub struct Vector {
    pub name: String,
    /// The field values the bytes encode.
    pub inputs: Value,
    /// The whole JSON object, for the fields only some files have.
    pub raw: Value,
    /// The decoded `hex`, checked against `len`.
    pub bytes: Vec<u8>,
}

/// Every vector of `file` (one of the constants above), in file order.
pub fn load(file: &str) -> Vec<Vector> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text).expect("vectors parse");
    all.as_array()
        .expect("top level is an array")
        .iter()
        .map(|v| {
            let bytes = unhex(v["hex"].as_str().expect("hex string"));
            assert_eq!(Some(bytes.len() as u64), v["len"].as_u64(), "len field");
            Vector {
                name: v["name"].as_str().expect("name").to_owned(),
                inputs: v["inputs"].clone(),
                raw: v.clone(),
                bytes,
            }
        })
        .collect()
}

/// Bytes from lower- or upper-case hexadecimal digits.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}
