//! Entries as encoded on disk and on the wire: bounded, versioned, never a panic.

use latticed_eventlog::codec::{decode_op_record, encode_op_record, DecodeError, OP_RECORD_LIMIT};
use latticed_eventlog::Entry;

use crate::support::{uid, Origin};

#[test]
fn entries_round_trip_and_every_damage_is_an_error() {
    let mut a = Origin::new(1);
    let entry = Entry::Op(a.say(5, uid(1, 1), "#c", 7, "hello"));
    let bytes = encode_op_record(&entry).unwrap();
    assert_eq!(decode_op_record::<Entry>(&bytes).unwrap(), entry);
    for len in 0..bytes.len() {
        assert!(decode_op_record::<Entry>(&bytes[..len]).is_err(), "{len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        decode_op_record::<Entry>(&longer),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let mut flipped = bytes.clone();
    for i in 1..flipped.len() {
        flipped[i] ^= 0xFF;
        let _ = decode_op_record::<Entry>(&flipped);
        flipped[i] ^= 0xFF;
    }
    assert!(encode_op_record(&Entry::Op(a.say(
        6,
        uid(1, 1),
        "#c",
        8,
        &"x".repeat(OP_RECORD_LIMIT)
    )))
    .is_err());
}
