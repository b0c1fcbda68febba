//! The nick collision rule, identical on every node.
//!
//! Every live user has a nick claim: its current nick and the stamp of the op that claimed it.
//! For each case-folded nick, the live user whose claim has the lowest stamp holds it; every
//! other live user claiming the same folded nick is shown with its [`Uid`]'s display form, which
//! no client can claim. Nobody is killed, and every node picks the same holder from the same ops.
//!
//! A nick change that only changes case keeps the claim's stamp (the claim is for the folded
//! nick), so a holder cannot lose its nick to a collision loser by changing case.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::ids::Uid;

/// Every nick claim one user made (UserArrive and NickChange ops), by stamp, so the current claim
/// is the same whatever order they arrived in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct NickHistory {
    claims: BTreeMap<Stamp, NickEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct NickEntry {
    nick: String,
    folded: String,
    wall_ms: u64,
}

/// A user's current nick claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claim<'a> {
    /// The nick as last written.
    pub nick: &'a str,
    /// Its case-folded form.
    pub folded: &'a str,
    /// Stamp of the op that started claiming this folded nick.
    pub stamp: Stamp,
    /// Wall time of that op.
    pub wall_ms: u64,
}

impl NickHistory {
    /// Record a claim made by the op stamped `stamp` (idempotent).
    pub fn record(&mut self, stamp: Stamp, nick: &str, folded: String, wall_ms: u64) {
        self.claims.entry(stamp).or_insert_with(|| NickEntry {
            nick: nick.to_owned(),
            folded,
            wall_ms,
        });
    }

    /// The current claim: the latest nick, stamped by the first op of the latest run of claims
    /// of the same folded nick.
    pub fn current(&self) -> Option<Claim<'_>> {
        let mut run = self.claims.iter().rev();
        let (_, last) = run.clone().next()?;
        let (stamp, start) = run
            .by_ref()
            .take_while(|(_, e)| e.folded == last.folded)
            .last()?;
        Some(Claim {
            nick: &last.nick,
            folded: &last.folded,
            stamp: *stamp,
            wall_ms: start.wall_ms,
        })
    }
}

/// Live users' claims grouped by folded nick, for holder lookup and `uid_by_nick`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct NickIndex {
    groups: HashMap<String, BTreeSet<(Stamp, Uid)>>,
    claim_of: HashMap<Uid, (String, Stamp)>,
    /// Folded display form of a losing uid -> the losing uids shown with it.
    losers: HashMap<String, BTreeSet<Uid>>,
    loser_key: HashMap<Uid, String>,
}

impl NickIndex {
    /// Set `uid`'s claim (`None`: not a live user). Returns the folded nicks whose groups changed.
    pub fn set_claim(&mut self, uid: Uid, claim: Option<(String, Stamp)>) -> Vec<String> {
        if self.claim_of.get(&uid) == claim.as_ref() {
            return Vec::new();
        }
        let mut dirty = Vec::new();
        if let Some((folded, stamp)) = self.claim_of.remove(&uid) {
            if let Some(group) = self.groups.get_mut(&folded) {
                group.remove(&(stamp, uid));
                if group.is_empty() {
                    self.groups.remove(&folded);
                }
            }
            dirty.push(folded);
        }
        if let Some((folded, stamp)) = claim {
            self.groups
                .entry(folded.clone())
                .or_default()
                .insert((stamp, uid));
            self.claim_of.insert(uid, (folded.clone(), stamp));
            if !dirty.contains(&folded) {
                dirty.push(folded);
            }
        }
        dirty
    }

    /// The users claiming a folded nick, holder first.
    pub fn group(&self, folded: &str) -> impl Iterator<Item = Uid> + '_ {
        self.groups
            .get(folded)
            .into_iter()
            .flat_map(|g| g.iter().map(|(_, uid)| *uid))
    }

    /// Whether `uid` holds the nick it claims.
    pub fn is_holder(&self, uid: Uid) -> bool {
        self.claim_of
            .get(&uid)
            .is_some_and(|(folded, _)| self.group(folded).next() == Some(uid))
    }

    /// Record that `uid` is shown with its display form, folded as `key` (`None`: it is not).
    pub fn set_loser(&mut self, uid: Uid, key: Option<String>) {
        if let Some(old) = self.loser_key.remove(&uid) {
            if let Some(set) = self.losers.get_mut(&old) {
                set.remove(&uid);
                if set.is_empty() {
                    self.losers.remove(&old);
                }
            }
        }
        if let Some(key) = key {
            self.losers.entry(key.clone()).or_default().insert(uid);
            self.loser_key.insert(uid, key);
        }
    }

    /// The live user whose effective nick folds to `folded`: the holder of that nick, else a
    /// collision loser shown with that display form.
    pub fn lookup(&self, folded: &str) -> Option<Uid> {
        self.group(folded).next().or_else(|| {
            self.losers
                .get(folded)
                .and_then(|set| set.iter().next().copied())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;

    fn stamp(counter: u64) -> Stamp {
        Stamp {
            counter,
            node: NodeId(1),
        }
    }

    fn uid(n: u64) -> Uid {
        Uid { node: NodeId(1), n }
    }

    #[test]
    fn latest_claim_wins_whatever_the_arrival_order() {
        let mut a = NickHistory::default();
        a.record(stamp(5), "bob", "bob".into(), 50);
        a.record(stamp(2), "alice", "alice".into(), 20);
        let claim = a.current().map(|c| (c.nick, c.stamp, c.wall_ms));
        assert_eq!(claim, Some(("bob", stamp(5), 50)));
        assert_eq!(NickHistory::default().current(), None);
    }

    #[test]
    fn case_change_keeps_the_claim_stamp() {
        let mut h = NickHistory::default();
        h.record(stamp(1), "alice", "alice".into(), 10);
        h.record(stamp(4), "bob", "bob".into(), 40);
        h.record(stamp(6), "Bob", "bob".into(), 60);
        h.record(stamp(7), "BOB", "bob".into(), 70);
        let claim = h.current();
        assert_eq!(
            claim.map(|c| (c.nick, c.stamp, c.wall_ms)),
            Some(("BOB", stamp(4), 40))
        );
        // A late claim in between splits the run.
        h.record(stamp(5), "carol", "carol".into(), 50);
        assert_eq!(h.current().map(|c| c.stamp), Some(stamp(6)));
    }

    #[test]
    fn lowest_stamp_holds_the_nick() {
        let mut index = NickIndex::default();
        assert_eq!(
            index.set_claim(uid(2), Some(("nick".into(), stamp(9)))),
            vec!["nick"]
        );
        index.set_claim(uid(1), Some(("nick".into(), stamp(3))));
        assert_eq!(index.lookup("nick"), Some(uid(1)));
        assert!(index.is_holder(uid(1)) && !index.is_holder(uid(2)));
        assert_eq!(
            index.group("nick").collect::<Vec<_>>(),
            vec![uid(1), uid(2)]
        );
        assert_eq!(index.set_claim(uid(1), None), vec!["nick"]);
        assert!(index.is_holder(uid(2)));
        assert!(index
            .set_claim(uid(2), Some(("nick".into(), stamp(9))))
            .is_empty());
    }

    #[test]
    fn losers_are_found_by_their_display_form() {
        let mut index = NickIndex::default();
        index.set_loser(uid(7), Some("001000007".into()));
        assert_eq!(index.lookup("001000007"), Some(uid(7)));
        index.set_loser(uid(7), None);
        assert_eq!(index.lookup("001000007"), None);
    }
}
