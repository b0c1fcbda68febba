//! WHOWAS history: the identities of recently gone nicks, bounded in size.

use std::collections::VecDeque;

use latticed_crdt::UserView;
use serde::{Deserialize, Serialize};

/// What WHOWAS shows of one past identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhowasEntry {
    /// The nick as it was written.
    pub nick: String,
    /// Username.
    pub user: String,
    /// Hostname.
    pub host: String,
    /// Realname.
    pub realname: String,
    /// When the nick stopped being used (Unix milliseconds).
    pub gone_ms: u64,
}

impl WhowasEntry {
    /// The identity of `user` as it was when it went away at `gone_ms`.
    pub fn from_user(user: &UserView, gone_ms: u64) -> WhowasEntry {
        WhowasEntry {
            nick: user.nick.to_string(),
            user: user.user.to_string(),
            host: user.host.to_string(),
            realname: user.realname.to_string(),
            gone_ms,
        }
    }
}

/// A bounded history, oldest entries dropped first.
pub struct Whowas {
    entries: VecDeque<(String, WhowasEntry)>,
    capacity: usize,
}

impl Whowas {
    /// A history keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Whowas {
        Whowas {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Record an identity under its folded nick.
    pub fn push(&mut self, folded_nick: String, entry: WhowasEntry) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((folded_nick, entry));
    }

    /// Every entry with its folded nick, oldest first: what a snapshot keeps, since the ops that
    /// made older entries are not replayed after a restart from it.
    pub fn entries(&self) -> impl Iterator<Item = &(String, WhowasEntry)> {
        self.entries.iter()
    }

    /// Entries for a folded nick, newest first.
    pub fn lookup<'a>(&'a self, folded_nick: &'a str) -> impl Iterator<Item = &'a WhowasEntry> {
        self.entries
            .iter()
            .rev()
            .filter(move |(k, _)| k == folded_nick)
            .map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(nick: &str, at: u64) -> WhowasEntry {
        WhowasEntry {
            nick: nick.into(),
            user: "u".into(),
            host: "h".into(),
            realname: "r".into(),
            gone_ms: at,
        }
    }

    #[test]
    fn newest_first_and_bounded() {
        let mut w = Whowas::new(2);
        w.push("a".into(), entry("A", 1));
        w.push("a".into(), entry("a", 2));
        w.push("b".into(), entry("b", 3));
        let got: Vec<u64> = w.lookup("a").map(|e| e.gone_ms).collect();
        assert_eq!(got, vec![2]);
        assert_eq!(w.lookup("b").count(), 1);
    }
}
