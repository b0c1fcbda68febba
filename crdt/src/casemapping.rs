//! The serde form of a [`CaseMapping`] (its ISUPPORT name), for states stored in snapshots: the
//! protocol crate stays free of serde, and a stored name reads back the same whatever the enum's
//! layout becomes.

use latticed_proto::CaseMapping;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes the mapping's name (`ascii` or `rfc1459`).
pub(crate) fn serialize<S: Serializer>(mapping: &CaseMapping, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(mapping.name())
}

/// Reads a mapping name; any other string is an error naming what was found.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<CaseMapping, D::Error> {
    let name = String::deserialize(input)?;
    CaseMapping::parse(&name)
        .ok_or_else(|| D::Error::custom(format!("unknown casemapping {name:?}")))
}

#[cfg(test)]
mod tests {
    use latticed_proto::CaseMapping;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder(#[serde(with = "super")] CaseMapping);

    #[test]
    fn stored_by_name_and_read_back() {
        for mapping in [CaseMapping::Ascii, CaseMapping::Rfc1459] {
            let json = serde_json::to_string(&Holder(mapping)).expect("serializable");
            assert_eq!(json, format!("\"{}\"", mapping.name()));
            let back: Holder = serde_json::from_str(&json).expect("readable");
            assert_eq!(back, Holder(mapping));
        }
    }

    #[test]
    fn an_unknown_name_is_an_error() {
        let err = serde_json::from_str::<Holder>("\"strict-rfc1459\"").expect_err("unknown");
        assert!(
            err.to_string()
                .contains("unknown casemapping \"strict-rfc1459\""),
            "{err}"
        );
    }
}
