//! What `latticed replay` prints (the tenant's state as JSON), read with a model of the harness's
//! own, and turned into the form the IRC observers record ([`Snapshot`]) so the two can be
//! compared field by field. Only the fields IRC shows are read; the rest of the JSON is checked
//! byte for byte across nodes instead.
//!
//! Where IRC and the JSON genuinely differ in form, the mapping does what the server does when it
//! answers a client that is in no channel (the observers, when their snapshots were taken):
//! NAMES shows the highest prefix symbol then the nick, and leaves invisible (`+i`) users out;
//! WHO leaves invisible users out; `MODE #c` shows a key as `*`. Mode strings are compared in a
//! canonical letter order ([`canonical_modes`]) on both sides.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::check::{is_observer, ChanState, Snapshot};
use crate::irc::fold;

/// The prefix modes and their NAMES symbols, highest rank first (the server's ISUPPORT PREFIX).
const PREFIXES: [(char, char); 2] = [('o', '@'), ('v', '+')];
/// The key of the ban list in the JSON `lists` object.
const BAN_LIST: &str = "Ban";

/// A user id as the JSON writes it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Uid {
    /// The node the user registered on.
    pub node: u32,
    /// That node's user counter.
    pub n: u64,
}

/// One live user.
#[derive(Clone, Debug, Deserialize)]
pub struct User {
    /// Its id.
    pub uid: Uid,
    /// Effective nick (what WHO and NAMES show).
    pub nick: String,
    /// Username.
    pub user: String,
    /// Realname.
    pub realname: String,
    /// User mode letters.
    #[serde(default)]
    pub modes: Vec<char>,
}

impl User {
    fn invisible(&self) -> bool {
        self.modes.contains(&'i')
    }
}

/// One member of a channel.
#[derive(Clone, Debug, Deserialize)]
pub struct Member {
    /// The member.
    pub uid: Uid,
    /// Prefix mode letters in rank order (`"ov"`).
    pub prefixes: String,
}

/// A channel topic.
#[derive(Clone, Debug, Deserialize)]
pub struct Topic {
    /// Its text.
    pub text: String,
}

/// One entry of a ban, except or invite list.
#[derive(Clone, Debug, Deserialize)]
pub struct ListEntry {
    /// The mask.
    pub mask: String,
}

/// One visible channel.
#[derive(Clone, Debug, Deserialize)]
pub struct Channel {
    /// Display name.
    pub name: String,
    /// Members.
    pub members: Vec<Member>,
    /// Topic, if set.
    pub topic: Option<Topic>,
    /// Simple mode letters.
    pub flags: String,
    /// Key (`+k`).
    pub key: Option<String>,
    /// Member limit (`+l`).
    pub limit: Option<u32>,
    /// Non-empty lists by kind (`Ban`, `Except`, `Invite`).
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<ListEntry>>,
}

/// A tenant's state as `latticed replay` prints it.
#[derive(Clone, Debug, Deserialize)]
pub struct Replayed {
    /// Live users.
    pub users: Vec<User>,
    /// Visible channels.
    pub channels: Vec<Channel>,
}

impl Replayed {
    /// Parses replay output.
    pub fn parse(json: &[u8]) -> Result<Replayed, String> {
        serde_json::from_slice(json)
            .map_err(|e| format!("replay output is not the expected JSON: {e}"))
    }

    /// The state as an observer in no channel would have recorded it over IRC: `channels` (those
    /// its snapshots cover) and every user but the observers.
    pub fn as_seen_over_irc(&self, channels: &[&str]) -> Result<Snapshot, String> {
        let by_uid: BTreeMap<Uid, &User> = self.users.iter().map(|u| (u.uid, u)).collect();
        let mut snap = Snapshot::default();
        for user in self.users.iter().filter(|u| !u.invisible()) {
            let folded = fold(&user.nick);
            snap.who_nicks.push(folded.clone());
            if !is_observer(&folded) {
                snap.users
                    .insert(folded, format!("{} {}", user.user, user.realname));
            }
        }
        for name in channels {
            let state = match self.channels.iter().find(|c| fold(&c.name) == fold(name)) {
                Some(channel) => channel_state(channel, &by_uid)?,
                None => ChanState::default(),
            };
            snap.channels.insert((*name).to_owned(), state);
        }
        Ok(snap)
    }
}

/// NAMES, TOPIC, MODE and the ban list of one channel, as a non-member sees them.
fn channel_state(channel: &Channel, users: &BTreeMap<Uid, &User>) -> Result<ChanState, String> {
    let mut state = ChanState::default();
    for member in &channel.members {
        let user = users.get(&member.uid).ok_or_else(|| {
            format!(
                "{}: member {}/{} is not among the users",
                channel.name, member.uid.node, member.uid.n
            )
        })?;
        if user.invisible() {
            continue;
        }
        let symbol = match member.prefixes.chars().next() {
            None => String::new(),
            Some(mode) => PREFIXES
                .iter()
                .find(|(m, _)| *m == mode)
                .map(|(_, s)| s.to_string())
                .ok_or_else(|| {
                    format!(
                        "{}: unknown prefix mode {mode:?} of {}",
                        channel.name, user.nick
                    )
                })?,
        };
        state.names.insert(format!("{symbol}{}", user.nick));
    }
    state.topic = channel
        .topic
        .as_ref()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    let mut modes = format!("+{}", channel.flags);
    let mut args = Vec::new();
    if channel.key.is_some() {
        modes.push('k');
        args.push("*".to_owned());
    }
    if let Some(limit) = channel.limit {
        modes.push('l');
        args.push(limit.to_string());
    }
    state.modes = canonical_modes(
        &std::iter::once(modes)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" "),
    );
    state.bans = channel
        .lists
        .get(BAN_LIST)
        .map(|entries| entries.iter().map(|e| e.mask.clone()).collect())
        .unwrap_or_default();
    Ok(state)
}

/// A channel mode string (`+ntl 42`, as RPL_CHANNELMODEIS gives it) with its letters sorted and
/// each argument kept with its letter (`k` and `l` take one), so two spellings of the same modes
/// compare equal. Text that is not a `+` mode string is returned as it is.
pub fn canonical_modes(text: &str) -> String {
    let mut words = text.split_whitespace();
    let Some(letters) = words.next().and_then(|w| w.strip_prefix('+')) else {
        return text.to_owned();
    };
    let mut modes: Vec<(char, Option<&str>)> = letters
        .chars()
        .map(|c| {
            let arg = matches!(c, 'k' | 'l').then(|| words.next()).flatten();
            (c, arg)
        })
        .collect();
    modes.sort_unstable();
    let mut out = String::from("+");
    out.extend(modes.iter().map(|(c, _)| c));
    for arg in modes.iter().filter_map(|(_, a)| *a).chain(words) {
        out.push(' ');
        out.push_str(arg);
    }
    out
}

/// `snap` with its mode strings in canonical form, to compare with a replayed state.
pub fn canonical(snap: &Snapshot) -> Snapshot {
    let mut out = snap.clone();
    for state in out.channels.values_mut() {
        state.modes = canonical_modes(&state.modes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r##"{
      "tenant": "alpha",
      "users": [
        {"uid": {"node": 1, "n": 1}, "nick": "Anchor1", "claimed_nick": "Anchor1", "user": "anchor",
         "host": "h", "realname": "n1/alpha/anchor", "ip": "10.0.0.1", "account": null, "away": null,
         "modes": [], "arrived_ms": 1, "nick_ms": 1},
        {"uid": {"node": 2, "n": 5}, "nick": "k2x1g0", "claimed_nick": "k2x1g0", "user": "k2x1g0",
         "host": "h", "realname": "n2/alpha/k2x1", "ip": "10.0.0.2", "account": null, "away": null,
         "modes": [], "arrived_ms": 2, "nick_ms": 2},
        {"uid": {"node": 2, "n": 6}, "nick": "hidden", "claimed_nick": "hidden", "user": "h",
         "host": "h", "realname": "r", "ip": "10.0.0.2", "account": null, "away": null,
         "modes": ["i"], "arrived_ms": 2, "nick_ms": 2},
        {"uid": {"node": 3, "n": 1}, "nick": "obs3", "claimed_nick": "obs3", "user": "observer",
         "host": "h", "realname": "observer", "ip": "10.0.0.3", "account": null, "away": null,
         "modes": [], "arrived_ms": 3, "nick_ms": 3}
      ],
      "channels": [
        {"name": "#Chaos0", "created_ms": 1,
         "members": [{"uid": {"node": 1, "n": 1}, "prefixes": "ov"},
                     {"uid": {"node": 2, "n": 5}, "prefixes": "v"},
                     {"uid": {"node": 2, "n": 6}, "prefixes": ""}],
         "topic": {"text": "the topic", "setter": "a!b@c", "set_ms": 5},
         "flags": "nt", "key": "sesame", "limit": 42,
         "lists": {"Ban": [{"mask": "x!*@*", "setter": "a!b@c", "set_ms": 5}]}}
      ]
    }"##;

    #[test]
    fn replayed_state_reads_as_a_non_member_sees_it_over_irc() {
        let replayed = Replayed::parse(JSON.as_bytes()).expect("parses");
        let snap = replayed
            .as_seen_over_irc(&["#chaos0", "#chaos1"])
            .expect("maps");
        let chan = &snap.channels["#chaos0"];
        assert_eq!(
            chan.names.iter().map(String::as_str).collect::<Vec<_>>(),
            ["+k2x1g0", "@Anchor1"]
        );
        assert_eq!(chan.topic, "the topic");
        assert_eq!(chan.modes, "+klnt * 42");
        assert_eq!(chan.bans.len(), 1);
        assert_eq!(snap.channels["#chaos1"], ChanState::default());
        assert_eq!(
            snap.users.keys().map(String::as_str).collect::<Vec<_>>(),
            ["anchor1", "k2x1g0"]
        );
        assert_eq!(snap.users["anchor1"], "anchor n1/alpha/anchor");
    }

    #[test]
    fn bad_replay_output_is_an_error_not_a_panic() {
        assert!(Replayed::parse(b"not json").is_err());
        let orphan = JSON.replace(
            r#"{"uid": {"node": 2, "n": 5}, "prefixes": "v"}"#,
            r#"{"uid": {"node": 9, "n": 9}, "prefixes": "v"}"#,
        );
        let replayed = Replayed::parse(orphan.as_bytes()).expect("parses");
        assert!(replayed.as_seen_over_irc(&["#chaos0"]).is_err());
        let odd = JSON.replace(r#""prefixes": "ov""#, r#""prefixes": "q""#);
        let replayed = Replayed::parse(odd.as_bytes()).expect("parses");
        assert!(replayed.as_seen_over_irc(&["#chaos0"]).is_err());
    }

    #[test]
    fn mode_strings_compare_in_canonical_order() {
        assert_eq!(canonical_modes("+ntl 42"), "+lnt 42");
        assert_eq!(canonical_modes("+lnt 42"), "+lnt 42");
        assert_eq!(canonical_modes("+lk 42 *"), "+kl * 42");
        assert_eq!(canonical_modes("+"), "+");
        assert_eq!(canonical_modes(""), "");
        assert_ne!(canonical_modes("+nt"), canonical_modes("+mnt"));
    }
}
