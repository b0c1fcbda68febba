//! The frame format on a link's stream: a 4-byte big-endian payload length, then the payload, a value
//! encoded with bincode 2 (standard config: little-endian varints).
//!
//! The reader checks the length against the maximum before allocating anything, and decodes with a
//! bincode size limit, so a hostile or broken peer cannot make this node allocate more than one
//! maximum-size frame.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::FrameError;

/// Largest frame payload any link accepts: 16 MiB.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes in the length prefix.
const HEADER_BYTES: usize = 4;

/// The bincode configuration on the wire; decoding also caps every allocation at [`MAX_FRAME_BYTES`].
fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes `value` as one complete frame (length prefix included), refusing payloads over `max` bytes.
pub(crate) fn encode<S: Serialize + ?Sized>(value: &S, max: usize) -> Result<Bytes, FrameError> {
    let mut buf = vec![0u8; HEADER_BYTES];
    bincode::serde::encode_into_std_write(value, &mut buf, bincode::config::standard())?;
    let size = buf.len() - HEADER_BYTES;
    let length = u32::try_from(size)
        .ok()
        .filter(|_| size <= max)
        .ok_or(FrameError::TooLarge { size, max })?;
    buf[..HEADER_BYTES].copy_from_slice(&length.to_be_bytes());
    Ok(Bytes::from(buf))
}

/// Decodes a whole payload into a `D`; leftover bytes mean the two sides disagree on the type.
pub(crate) fn decode<D: DeserializeOwned>(payload: &[u8]) -> Result<D, FrameError> {
    let (value, used) = bincode::serde::decode_from_slice(payload, config())?;
    if used != payload.len() {
        return Err(FrameError::TrailingBytes {
            extra: payload.len() - used,
        });
    }
    Ok(value)
}

/// Decodes only the leading `u32` of a payload, for fields that must be read before the rest can be
/// trusted to have the expected layout (the protocol version of a Hello).
pub(crate) fn decode_prefix_u32(payload: &[u8]) -> Result<u32, FrameError> {
    let (value, _) = bincode::serde::decode_from_slice(payload, config())?;
    Ok(value)
}

/// Reads one frame's payload. `Ok(None)` means the stream ended cleanly between frames.
///
/// A length over `max` is refused before any buffer is allocated.
pub(crate) async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_BYTES];
    let mut filled = 0;
    while filled < HEADER_BYTES {
        let read = reader.read(&mut header[filled..]).await?;
        if read == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += read;
    }
    let size = u32::from_be_bytes(header) as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let mut payload = vec![0u8; size];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(err),
        })?;
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Sample {
        Text(String),
        Numbers(Vec<u64>),
    }

    async fn read_all(mut bytes: &[u8], max: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut out = Vec::new();
        loop {
            let item = read(&mut bytes, max).await.map_err(|err| err.to_string());
            let done = !matches!(item, Ok(Some(_)));
            out.push(item);
            if done {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let first = encode(&Sample::Text("hello".into()), MAX_FRAME_BYTES).expect("encode");
        let second =
            encode(&Sample::Numbers(vec![1, 300, u64::MAX]), MAX_FRAME_BYTES).expect("encode");
        assert_eq!(
            u32::from_be_bytes(first[..4].try_into().expect("header")) as usize,
            first.len() - 4
        );
        let stream = [first.as_ref(), second.as_ref()].concat();
        let frames = read_all(&stream, MAX_FRAME_BYTES).await;
        assert_eq!(frames.len(), 3, "two frames then a clean end");
        let decoded: Vec<Sample> = frames[..2]
            .iter()
            .map(|frame| {
                let payload = frame.as_ref().expect("read").as_ref().expect("a frame");
                decode(payload).expect("decode")
            })
            .collect();
        assert_eq!(
            decoded,
            [
                Sample::Text("hello".into()),
                Sample::Numbers(vec![1, 300, u64::MAX])
            ]
        );
        assert_eq!(frames[2], Ok(None));
    }

    #[tokio::test]
    async fn an_oversize_length_is_refused_before_reading_the_body() {
        let mut stream = (17u32 * 1024 * 1024).to_be_bytes().to_vec();
        stream.extend_from_slice(b"short body");
        let frames = read_all(&stream, MAX_FRAME_BYTES).await;
        assert_eq!(
            frames,
            [Err(format!(
                "frame of {} bytes exceeds the maximum of {MAX_FRAME_BYTES} bytes",
                17 * 1024 * 1024
            ))]
        );
    }

    #[test]
    fn an_oversize_value_is_refused_when_encoding() {
        let big = Sample::Text("x".repeat(2000));
        match encode(&big, 1000) {
            Err(FrameError::TooLarge { size, max: 1000 }) => assert!(size > 2000, "{size}"),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_frame_is_truncated() {
        let frame = encode(&Sample::Text("hello".into()), MAX_FRAME_BYTES).expect("encode");
        for cut in [2, frame.len() - 1] {
            let frames = read_all(&frame[..cut], MAX_FRAME_BYTES).await;
            assert_eq!(
                frames,
                [Err("the stream ended in the middle of a frame".to_owned())],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_and_leftovers_are_decode_errors() {
        assert!(matches!(
            decode::<Sample>(&[9, 9, 9]),
            Err(FrameError::Decode(_))
        ));
        let mut payload =
            encode(&Sample::Text("a".into()), MAX_FRAME_BYTES).expect("encode")[4..].to_vec();
        payload.push(0);
        assert!(matches!(
            decode::<Sample>(&payload),
            Err(FrameError::TrailingBytes { extra: 1 })
        ));
    }

    #[test]
    fn a_length_claim_inside_the_payload_cannot_allocate_past_the_limit() {
        // Variant 1 (Numbers) followed by a varint length of u64::MAX / 2 elements.
        let mut payload = vec![1u8, 0xfd];
        payload.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(matches!(
            decode::<Sample>(&payload),
            Err(FrameError::Decode(_))
        ));
    }
}
