//! The IRC wire format for latticed.
//!
//! Everything a node needs to turn bytes from a client into [`Message`]s and back, written
//! from the specifications (RFC 1459/2812, modern.ircdocs.horse and IRCv3 message-tags)
//! rather than on top of an IRC parsing crate, so that the hot path stays allocation-light
//! and every rule is ours to test:
//!
//! - [`LineCodec`] splits a byte stream into lines with a bounded buffer, so a client can
//!   never make the server hold more than one maximum-length line.
//! - [`check_client_line`] applies the IRCv3 size limits (answer: `ERR_INPUTTOOLONG`).
//! - [`Message::parse`] / [`Message::write_to`] convert one line to and from a [`Message`],
//!   with tag escaping; bad input is an error, never a panic.
//! - [`CaseMapping`], [`mask_match`], [`normalize_mask`] and [`split_userhost`] give the
//!   name comparison and ban-mask rules every node must apply identically.
//! - The `is_valid_*` functions decide which nicks, channels, usernames and hostnames
//!   are accepted.
//! - [`numeric`] names every numeric reply the server sends.

mod casemap;
mod codec;
mod limits;
mod mask;
mod message;
pub mod numeric;
mod parse;
mod tags;
mod validate;
mod write;

pub use casemap::CaseMapping;
pub use codec::{LineCodec, LineEvent};
pub use limits::{
    check_client_line, LimitError, MAX_CLIENT_LINE, MAX_CLIENT_TAGS, MAX_LINE_BODY, MAX_LINE_TOTAL,
    MAX_TAGS_SECTION,
};
pub use mask::{mask_match, normalize_mask, split_userhost};
pub use message::{Message, Tag};
pub use parse::{ParseError, MAX_PARAMS};
pub use validate::{is_valid_channel, is_valid_hostname, is_valid_nick, is_valid_user};
