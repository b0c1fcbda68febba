//! Versioned, size-bounded record encoding: the only way bytes become values, from disk or from a
//! peer, so a corrupt or hostile record is an error and never a panic or a huge allocation.
//!
//! A record is one format-version byte ([`RECORD_VERSION`]) followed by a bincode 2 body (serde,
//! standard configuration). Decoding refuses records longer than the caller's limit before
//! looking at them, and bincode's own limit stops a corrupt length prefix from allocating more
//! than that limit.

use bincode::config;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

/// Format version of every record this crate writes. A reader refuses other versions, so a
/// future format change is detected instead of misread.
pub const RECORD_VERSION: u8 = 1;

/// Largest op record (or op frame from a peer) accepted: 1 MiB, far above any honest op (IRC
/// lines are at most a few KiB) and small enough that a corrupt length cannot exhaust memory.
pub const OP_RECORD_LIMIT: usize = 1 << 20;

/// Largest snapshot record accepted: 256 MiB, room for a very large tenant's state.
pub const SNAPSHOT_RECORD_LIMIT: usize = 256 << 20;

/// Why bytes could not be decoded into a record.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Zero bytes: not even a version byte.
    #[error("empty record: no format version byte")]
    Empty,
    /// Written by another format version.
    #[error("record format version {found} is not supported (this build reads version {RECORD_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// Longer than the limit for its kind of record.
    #[error("record of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the record.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The body is not a valid encoding (truncated, corrupt, or over the allocation limit).
    #[error("record body is malformed: {source}")]
    Malformed {
        /// What bincode found wrong.
        #[source]
        source: bincode::error::DecodeError,
    },
    /// A run of entries (several consecutive ops under one key) whose header does not
    /// match its bytes.
    #[error("run record is malformed: {detail}")]
    MalformedRun {
        /// What is wrong with it.
        detail: &'static str,
    },
    /// The body decoded but bytes were left over, so the record is not what was written.
    #[error("record body has {extra} trailing bytes after a complete value")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
}

/// Why a value could not be encoded into a record.
#[derive(Debug, Error)]
pub enum EncodeError {
    /// The record would be longer than its limit, so no reader would accept it.
    #[error("encoded record of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// bincode could not encode the value.
    #[error("cannot encode record: {source}")]
    Bincode {
        /// What bincode reported.
        #[source]
        source: bincode::error::EncodeError,
    },
}

/// Encodes `value` as a versioned record no longer than `LIMIT` bytes.
pub fn encode<T: Serialize + ?Sized, const LIMIT: usize>(
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![RECORD_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, config::standard())
        .map_err(|source| EncodeError::Bincode { source })?;
    if out.len() > LIMIT {
        return Err(EncodeError::TooLarge {
            len: out.len(),
            limit: LIMIT,
        });
    }
    Ok(out)
}

/// Decodes a versioned record of at most `LIMIT` bytes.
pub fn decode<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    if version != RECORD_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(body, config::standard().with_limit::<LIMIT>())
            .map_err(|source| DecodeError::Malformed { source })?;
    match body.len() - used {
        0 => Ok(value),
        extra => Err(DecodeError::TrailingBytes { extra }),
    }
}

/// [`encode`] with the op record limit: for ops and log entries, on disk and on the wire.
pub fn encode_op_record<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    encode::<T, OP_RECORD_LIMIT>(value)
}

/// [`decode`] with the op record limit: for ops and log entries, on disk and on the wire.
pub fn decode_op_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode::<T, OP_RECORD_LIMIT>(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        items: Vec<u64>,
    }

    fn sample() -> Sample {
        Sample {
            name: "#chan".into(),
            items: vec![1, 2, 300_000],
        }
    }

    #[test]
    fn round_trips_with_a_leading_version_byte() {
        let bytes = encode_op_record(&sample()).unwrap();
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode_op_record::<Sample>(&bytes).unwrap(), sample());
    }

    #[test]
    fn empty_record_is_an_error() {
        assert!(matches!(
            decode_op_record::<Sample>(&[]),
            Err(DecodeError::Empty)
        ));
    }

    #[test]
    fn unknown_version_is_an_error() {
        let mut bytes = encode_op_record(&sample()).unwrap();
        bytes[0] = 2;
        assert!(matches!(
            decode_op_record::<Sample>(&bytes),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode_op_record(&sample()).unwrap();
        for len in 1..bytes.len() {
            assert!(
                decode_op_record::<Sample>(&bytes[..len]).is_err(),
                "truncated to {len} bytes decoded"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode_op_record(&sample()).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode_op_record::<Sample>(&bytes),
            Err(DecodeError::TrailingBytes { extra: 1 })
        ));
    }

    #[test]
    fn oversized_record_is_refused_before_decoding() {
        let mut bytes = vec![RECORD_VERSION];
        bytes.resize(OP_RECORD_LIMIT + 1, 0);
        assert!(matches!(
            decode_op_record::<Sample>(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn huge_length_prefix_does_not_allocate_it() {
        // A string claiming u64::MAX / 2 bytes: varint tag 253 then a little-endian u64.
        let mut bytes = vec![RECORD_VERSION, 253];
        bytes.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(matches!(
            decode_op_record::<Sample>(&bytes),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn oversized_value_cannot_be_encoded() {
        let big = Sample {
            name: "x".repeat(OP_RECORD_LIMIT),
            items: vec![],
        };
        assert!(matches!(
            encode_op_record(&big),
            Err(EncodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_op_record::<Sample>(&bytes);
        }
    }
}
