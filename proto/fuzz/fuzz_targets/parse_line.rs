//! Feeds arbitrary bytes to the client-line path: limits, parse, serialize, parse again
//! (must give the same message), and to the line codec in small chunks (lines must stay
//! within the limit and the buffer bounded).

#![no_main]

use bytes::BytesMut;
use latticed_proto::{check_client_line, LineCodec, LineEvent, Message};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Codec limit for the fuzzed stream: small, so overlong lines are common.
const MAX_LINE: usize = 64;

fuzz_target!(|data: &[u8]| {
    check_line(data);
    check_codec(data);
});

fn check_line(line: &[u8]) {
    let within_limits = check_client_line(line).is_ok();
    let parsed = Message::parse(line);
    assert_eq!(
        Message::parse_client(line).is_ok(),
        within_limits && parsed.is_ok(),
        "parse_client must be check_client_line then parse"
    );
    let Ok(msg) = parsed else {
        return;
    };
    for force_trailing in [false, true] {
        let mut buf = BytesMut::new();
        if force_trailing {
            msg.write_to_force_trailing(&mut buf);
        } else {
            msg.write_to(&mut buf);
            assert_eq!(
                msg.to_bytes(),
                buf,
                "to_bytes is write_to into a new buffer"
            );
        }
        let written = buf
            .strip_suffix(b"\r\n")
            .expect("write_to ends every line with CRLF");
        assert_eq!(Message::parse(written).as_ref(), Ok(&msg));
    }
}

fn check_codec(data: &[u8]) {
    let mut codec = LineCodec::new(MAX_LINE);
    let mut buf = BytesMut::new();
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(event) = codec.decode(&mut buf).expect("decode never fails") {
            check_event(event);
        }
        assert!(
            buf.len() <= MAX_LINE + 1,
            "codec buffer grew to {}",
            buf.len()
        );
    }
    while let Some(event) = codec.decode_eof(&mut buf).expect("decode_eof never fails") {
        check_event(event);
    }
}

fn check_event(event: LineEvent) {
    if let LineEvent::Line(line) = event {
        assert!(!line.is_empty() && line.len() <= MAX_LINE);
        assert!(line.last() != Some(&b'\n'));
        check_line(&line);
    }
}
