//! Property tests: serialization and parsing are inverse, parsing arbitrary bytes never
//! panics and reaches a fixed point, the codec does not care how the stream is chunked,
//! and the case mapping and mask matcher agree with their own definitions.

use bytes::BytesMut;
use latticed_proto::{mask_match, CaseMapping, LineCodec, LineEvent, Message, Tag, MAX_PARAMS};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Any char except NUL (which no IRC line may carry), weighted towards the characters
/// that tag escaping and param splitting must handle.
fn wire_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_filter("no NUL", |&c| c != '\0'),
        2 => prop::sample::select(vec![';', ' ', '\\', '\r', '\n', ':', '=', '@', 's']),
    ]
}

fn tag_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::collection::vec(wire_char(), 1..16).prop_map(String::from_iter))
}

fn tags() -> impl Strategy<Value = Vec<Tag>> {
    let key = "\\+?([a-z0-9.-]{1,8}/)?[a-zA-Z0-9-]{1,10}";
    prop::collection::vec((key, tag_value()), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .fold(Message::new("X"), |m, (k, v)| m.with_tag(k, v))
            .tags
    })
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Z]{1,12}", "[0-9]{3}"]
}

fn middle_param() -> impl Strategy<Value = String> {
    "[^ \\x00\\r\\n:][^ \\x00\\r\\n]{0,12}"
}

fn last_param() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00\\r\\n]{0,24}",
        Just(String::new()),
        Just(":".to_owned()),
        "[ :]{1,4}",
    ]
}

fn params() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(middle_param(), 0..MAX_PARAMS),
        prop::option::of(last_param()),
    )
        .prop_map(|(mut params, last)| {
            params.extend(last);
            params
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        tags(),
        prop::option::of("[^ \\x00\\r\\n]{1,24}"),
        command(),
        params(),
    )
        .prop_map(|(tags, source, command, params)| Message {
            tags,
            source,
            command,
            params,
        })
}

/// Bytes that look enough like IRC to reach deep into the parser.
fn ircish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"@:; =\\abcAZ09!#".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..80)
}

fn written(msg: &Message, force_trailing: bool) -> BytesMut {
    let mut buf = BytesMut::new();
    if force_trailing {
        msg.write_to_force_trailing(&mut buf);
    } else {
        msg.write_to(&mut buf);
    }
    buf
}

fn without_crlf(buf: &BytesMut) -> &[u8] {
    buf.strip_suffix(b"\r\n")
        .expect("written lines end in CRLF")
}

fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut, eof: bool) -> Vec<LineEvent> {
    let mut events = Vec::new();
    loop {
        let event = if eof {
            codec.decode_eof(buf)
        } else {
            codec.decode(buf)
        };
        match event.expect("the codec never fails") {
            Some(event) => events.push(event),
            None => return events,
        }
    }
}

proptest! {
    #[test]
    fn write_then_parse_is_identity(msg in message()) {
        for force in [false, true] {
            let buf = written(&msg, force);
            let parsed = Message::parse(without_crlf(&buf));
            prop_assert_eq!(parsed.as_ref(), Ok(&msg), "line {:?}", String::from_utf8_lossy(&buf));
        }
    }

    #[test]
    fn parsing_arbitrary_bytes_reaches_a_fixed_point(line in ircish_bytes()) {
        if let Ok(msg) = Message::parse(&line) {
            let buf = written(&msg, false);
            prop_assert_eq!(Message::parse(without_crlf(&buf)), Ok(msg));
        }
    }

    #[test]
    fn codec_output_does_not_depend_on_chunking(
        stream in prop::collection::vec(prop::sample::select(b"ab \r\n".to_vec()), 0..200),
        cuts in prop::collection::vec(0usize..200, 0..10),
    ) {
        let mut whole = LineCodec::new(8);
        let mut buf = BytesMut::from(&stream[..]);
        let expected = decode_all(&mut whole, &mut buf, true);

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
        cuts.sort_unstable();
        let mut chunked = LineCodec::new(8);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[start..cut]);
            start = cut;
            events.extend(decode_all(&mut chunked, &mut buf, false));
            prop_assert!(buf.len() <= 9, "buffer holds {} bytes", buf.len());
        }
        events.extend(decode_all(&mut chunked, &mut buf, true));
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn casemap_eq_agrees_with_fold(a in "[a-zA-Z\\[\\]\\\\~{}|^é]{0,6}", b in "[a-zA-Z\\[\\]\\\\~{}|^é]{0,6}") {
        for cm in [CaseMapping::Ascii, CaseMapping::Rfc1459] {
            prop_assert_eq!(cm.eq(&a, &b), cm.fold(&a) == cm.fold(&b));
            prop_assert_eq!(cm.fold(&cm.fold(&a)), cm.fold(&a));
        }
    }

    #[test]
    fn an_escaped_string_matches_exactly_itself(s in "[a-c*?\\\\]{0,8}", other in "[a-c*?\\\\]{0,8}") {
        let mut mask = String::new();
        for c in s.chars() {
            if matches!(c, '*' | '?' | '\\') {
                mask.push('\\');
            }
            mask.push(c);
        }
        let cm = CaseMapping::Ascii;
        prop_assert!(mask_match(&mask, &s, cm));
        prop_assert_eq!(mask_match(&mask, &other, cm), other == s);
    }
}
