//! Runs every vector of the ircdocs parser-tests suite (CC0, copied into
//! `tests/data/parser-tests`) against the parser, serializer, userhost splitter, mask
//! matcher and hostname validator.
//!
//! One normalisation applies throughout: the parser uppercases commands, so verbs are
//! compared case-insensitively when parsing (the vectors use lowercase `foo`). No vector
//! is skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::BytesMut;
use latticed_proto::{is_valid_hostname, mask_match, split_userhost, CaseMapping, Message, Tag};
use serde::Deserialize;

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/parser-tests", file]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {file}: {e}"))
}

#[derive(Deserialize)]
struct Suite<T> {
    tests: Vec<T>,
}

/// The expected parts of a message; absent keys mean "none", empty tag values "no value".
#[derive(Deserialize, Debug)]
struct Atoms {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

impl Atoms {
    /// Checks a parsed message against these atoms.
    fn assert_matches(&self, msg: &Message, context: &str) {
        let tags: BTreeMap<String, String> = msg
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            msg.tags.len(),
            tags.len(),
            "{context}: duplicate tag keys kept"
        );
        assert_eq!(tags, self.tags, "{context}: tags");
        assert_eq!(msg.source, self.source, "{context}: source");
        assert_eq!(
            msg.command,
            self.verb.to_ascii_uppercase(),
            "{context}: verb"
        );
        assert_eq!(msg.params, self.params, "{context}: params");
    }

    /// Builds the message these atoms describe, command as given.
    fn to_message(&self) -> Message {
        Message {
            tags: self
                .tags
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: Some(value.clone()),
                })
                .collect(),
            source: self.source.clone(),
            command: self.verb.clone(),
            params: self.params.clone(),
        }
    }
}

#[derive(Deserialize)]
struct SplitVector {
    input: String,
    atoms: Atoms,
}

#[derive(Deserialize)]
struct JoinVector {
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

#[derive(Deserialize)]
struct UserhostAtoms {
    nick: Option<String>,
    user: Option<String>,
    host: Option<String>,
}

#[derive(Deserialize)]
struct UserhostVector {
    source: String,
    atoms: UserhostAtoms,
}

#[derive(Deserialize)]
struct MaskVector {
    mask: String,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(default)]
    fails: Vec<String>,
}

#[derive(Deserialize)]
struct HostnameVector {
    host: String,
    valid: bool,
}

#[test]
fn msg_split_vectors_parse() {
    let suite: Suite<SplitVector> = load("msg-split.yaml");
    assert_eq!(
        suite.tests.len(),
        35,
        "every vector of msg-split.yaml is loaded"
    );
    for vector in &suite.tests {
        let msg = Message::parse(vector.input.as_bytes())
            .unwrap_or_else(|e| panic!("{:?} should parse: {e}", vector.input));
        vector.atoms.assert_matches(&msg, &vector.input);
    }
}

#[test]
fn msg_join_vectors_serialize() {
    let suite: Suite<JoinVector> = load("msg-join.yaml");
    assert_eq!(
        suite.tests.len(),
        18,
        "every vector of msg-join.yaml is loaded"
    );
    for vector in &suite.tests {
        let mut buf = BytesMut::new();
        vector.atoms.to_message().write_to(&mut buf);
        let line = std::str::from_utf8(&buf).expect("serializer writes UTF-8");
        let line = line
            .strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("{}: no CRLF in {line:?}", vector.desc));
        assert!(
            vector.matches.iter().any(|m| m == line),
            "{}: wrote {line:?}, expected one of {:?}",
            vector.desc,
            vector.matches
        );
        for accepted in &vector.matches {
            let parsed = Message::parse(accepted.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {accepted:?} should parse: {e}", vector.desc));
            vector.atoms.assert_matches(&parsed, &vector.desc);
        }
    }
}

#[test]
fn userhost_split_vectors() {
    let suite: Suite<UserhostVector> = load("userhost-split.yaml");
    assert_eq!(
        suite.tests.len(),
        7,
        "every vector of userhost-split.yaml is loaded"
    );
    for vector in &suite.tests {
        let expected = (
            vector.atoms.nick.as_deref(),
            vector.atoms.user.as_deref(),
            vector.atoms.host.as_deref(),
        );
        assert_eq!(
            split_userhost(&vector.source),
            expected,
            "{:?}",
            vector.source
        );
    }
}

#[test]
fn mask_match_vectors_under_both_mappings() {
    let suite: Suite<MaskVector> = load("mask-match.yaml");
    assert_eq!(
        suite.tests.len(),
        6,
        "every vector of mask-match.yaml is loaded"
    );
    for cm in [CaseMapping::Ascii, CaseMapping::Rfc1459] {
        for vector in &suite.tests {
            for subject in &vector.matches {
                assert!(
                    mask_match(&vector.mask, subject, cm),
                    "{cm:?}: {:?} should match {subject:?}",
                    vector.mask
                );
            }
            for subject in &vector.fails {
                assert!(
                    !mask_match(&vector.mask, subject, cm),
                    "{cm:?}: {:?} should not match {subject:?}",
                    vector.mask
                );
            }
        }
    }
}

#[test]
fn validate_hostname_vectors() {
    let suite: Suite<HostnameVector> = load("validate-hostname.yaml");
    assert_eq!(
        suite.tests.len(),
        19,
        "every vector of validate-hostname.yaml is loaded"
    );
    for vector in &suite.tests {
        assert_eq!(
            is_valid_hostname(&vector.host),
            vector.valid,
            "{:?}",
            vector.host
        );
    }
}
