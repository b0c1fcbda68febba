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

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Stamp;
use crate::ids::Uid;
use crate::sorted::FittedSlice;
use crate::user::Text;

/// Every nick claim one user made (UserArrive and NickChange ops), by stamp, so the current claim
/// is the same whatever order they arrived in.
///
/// A slice sorted by stamp, allocated to fit: nearly every user makes one or two claims, and a
/// map would allocate a node of eleven slots for each of them. It serializes as the map from
/// stamp to claim it once was, so snapshots written before read the same.
#[derive(Clone, Debug, Default)]
pub(crate) struct NickHistory {
    claims: FittedSlice<(Stamp, NickEntry)>,
}

#[derive(Clone, Debug)]
struct NickEntry {
    /// Shared with the user's view.
    nick: Text,
    /// The folded nick when it differs from `nick` (most nicks are written folded already).
    /// Shared with the [`NickIndex`] key of the claim.
    folded: Option<Text>,
    wall_ms: u64,
}

impl NickEntry {
    fn new(nick: &str, folded: String, wall_ms: u64) -> NickEntry {
        let folded = (folded != nick).then(|| Text::from(folded));
        NickEntry {
            nick: nick.into(),
            folded,
            wall_ms,
        }
    }

    fn folded(&self) -> &Text {
        self.folded.as_ref().unwrap_or(&self.nick)
    }
}

/// The serialized form of one claim: both names, as when the history was a map.
#[derive(Serialize, Deserialize)]
#[serde(rename = "NickEntry")]
struct NickEntryForm<N> {
    nick: N,
    folded: N,
    wall_ms: u64,
}

impl Serialize for NickHistory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.claims.iter().map(|(stamp, entry)| {
            let form = NickEntryForm {
                nick: &*entry.nick,
                folded: &**entry.folded(),
                wall_ms: entry.wall_ms,
            };
            (stamp, form)
        }))
    }
}

impl<'de> Deserialize<'de> for NickHistory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Stamp, NickEntryForm<String>>::deserialize(deserializer)?;
        let claims = map
            .into_iter()
            .map(|(stamp, form)| (stamp, NickEntry::new(&form.nick, form.folded, form.wall_ms)))
            .collect();
        Ok(NickHistory { claims })
    }
}

/// A user's current nick claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claim<'a> {
    /// The nick as last written.
    pub nick: &'a Text,
    /// Its case-folded form.
    pub folded: &'a Text,
    /// Stamp of the op that started claiming this folded nick.
    pub stamp: Stamp,
    /// Wall time of that op.
    pub wall_ms: u64,
}

impl NickHistory {
    /// Record a claim made by the op stamped `stamp` (idempotent).
    pub fn record(&mut self, stamp: Stamp, nick: &str, folded: String, wall_ms: u64) {
        if let Err(at) = self.claims.binary_search_by_key(&stamp, |(s, _)| *s) {
            self.claims
                .insert(at, (stamp, NickEntry::new(nick, folded, wall_ms)));
        }
    }

    /// The current claim: the latest nick, stamped by the first op of the latest run of claims
    /// of the same folded nick.
    pub fn current(&self) -> Option<Claim<'_>> {
        let (_, last) = self.claims.last()?;
        let folded = last.folded();
        let (stamp, start) = self
            .claims
            .iter()
            .rev()
            .take_while(|(_, e)| e.folded() == folded)
            .last()?;
        Some(Claim {
            nick: &last.nick,
            folded,
            stamp: *stamp,
            wall_ms: start.wall_ms,
        })
    }
}

/// The users claiming one folded nick, ordered by claim stamp (the holder first). A slice
/// allocated to fit, since a nick rarely has more than one claimant; it serializes as the set
/// it once was, and reading one sorts it, so no input can break the order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Claimants(FittedSlice<(Stamp, Uid)>);

impl Claimants {
    fn insert(&mut self, claim: (Stamp, Uid)) {
        if let Err(at) = self.0.binary_search(&claim) {
            self.0.insert(at, claim);
        }
    }

    fn remove(&mut self, claim: &(Stamp, Uid)) {
        if let Ok(at) = self.0.binary_search(claim) {
            self.0.remove(at);
        }
    }
}

impl Serialize for Claimants {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Claimants {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let set = BTreeSet::<(Stamp, Uid)>::deserialize(deserializer)?;
        Ok(Claimants(set.into_iter().collect()))
    }
}

/// Live users' claims grouped by folded nick, for holder lookup and `uid_by_nick`. The folded
/// nick is the claim's own [`Text`] (see [`NickHistory`]): keys cost a reference count, not a
/// copy each.
///
/// A user's own claim is not kept here a second time: its record says it
/// ([`crate::user::LiveUser::indexed_claim`]), and the caller passes it. The stored form still
/// has the `claim_of` map it once kept (written from the groups, which hold the same pairs; read
/// and dropped), so snapshots read and write as before.
#[derive(Clone, Debug, Default)]
pub(crate) struct NickIndex {
    groups: HashMap<Text, Claimants>,
    /// Folded display form of a losing uid -> the losing uids shown with it.
    losers: HashMap<String, BTreeSet<Uid>>,
    loser_key: HashMap<Uid, String>,
}

/// The stored form of a [`NickIndex`], as written.
#[derive(Serialize)]
#[serde(rename = "NickIndex")]
struct IndexForm<'a> {
    groups: &'a HashMap<Text, Claimants>,
    claim_of: ClaimOf<'a>,
    losers: &'a HashMap<String, BTreeSet<Uid>>,
    loser_key: &'a HashMap<Uid, String>,
}

/// The stored form of a [`NickIndex`], as read.
#[derive(Deserialize)]
#[serde(rename = "NickIndex")]
struct IndexRead {
    groups: HashMap<Text, Claimants>,
    #[serde(rename = "claim_of")]
    _claim_of: HashMap<Uid, (String, Stamp)>,
    losers: HashMap<String, BTreeSet<Uid>>,
    loser_key: HashMap<Uid, String>,
}

/// Each claimant's folded nick and claim stamp, by uid: the groups turned inside out.
struct ClaimOf<'a>(&'a HashMap<Text, Claimants>);

impl Serialize for ClaimOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let count = self.0.values().map(|group| group.0.len()).sum();
        let mut map = serializer.serialize_map(Some(count))?;
        for (folded, group) in self.0 {
            for (stamp, uid) in group.0.iter() {
                map.serialize_entry(uid, &(&**folded, stamp))?;
            }
        }
        map.end()
    }
}

impl Serialize for NickIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IndexForm {
            groups: &self.groups,
            claim_of: ClaimOf(&self.groups),
            losers: &self.losers,
            loser_key: &self.loser_key,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NickIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let read = IndexRead::deserialize(deserializer)?;
        Ok(NickIndex {
            groups: read.groups,
            losers: read.losers,
            loser_key: read.loser_key,
        })
    }
}

impl NickIndex {
    /// Move `uid`'s claim from `before` to `after` (`None`: no claim, e.g. not a live user).
    /// `before` must be the claim last set for `uid`. Returns the folded nicks whose groups
    /// changed.
    pub fn move_claim(
        &mut self,
        uid: Uid,
        before: Option<(Text, Stamp)>,
        after: Option<(Text, Stamp)>,
    ) -> Vec<Text> {
        if before == after {
            return Vec::new();
        }
        let mut dirty = Vec::new();
        if let Some((folded, stamp)) = before {
            if let Some(group) = self.groups.get_mut(&folded) {
                group.remove(&(stamp, uid));
                if group.0.is_empty() {
                    self.groups.remove(&folded);
                }
            }
            dirty.push(folded);
        }
        if let Some((folded, stamp)) = after {
            match self.groups.get_mut(&folded) {
                Some(group) => group.insert((stamp, uid)),
                None => {
                    self.groups.insert(
                        folded.clone(),
                        Claimants(FittedSlice::from_iter([(stamp, uid)])),
                    );
                }
            }
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
            .flat_map(|g| g.0.iter().map(|(_, uid)| *uid))
    }

    /// Every claim in the index: uid, folded nick, stamp.
    #[cfg(test)]
    pub fn claims(&self) -> BTreeSet<(Uid, Text, Stamp)> {
        self.groups
            .iter()
            .flat_map(|(folded, group)| {
                group
                    .0
                    .iter()
                    .map(|(stamp, uid)| (*uid, folded.clone(), *stamp))
            })
            .collect()
    }

    /// Whether `uid` holds the folded nick it claims.
    pub fn holds(&self, uid: Uid, folded: &str) -> bool {
        self.group(folded).next() == Some(uid)
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

    /// Whether `uid` is shown with its display form ([`NickIndex::set_loser`]).
    pub fn is_loser(&self, uid: Uid) -> bool {
        self.loser_key.contains_key(&uid)
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
        let claim = a.current().map(|c| (&**c.nick, c.stamp, c.wall_ms));
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
            claim.map(|c| (&**c.nick, c.stamp, c.wall_ms)),
            Some(("BOB", stamp(4), 40))
        );
        // A late claim in between splits the run.
        h.record(stamp(5), "carol", "carol".into(), 50);
        assert_eq!(h.current().map(|c| c.stamp), Some(stamp(6)));
    }

    /// The form [`NickHistory`] and [`NickIndex`] had when they were built of maps and sets
    /// (snapshots are bincode): snapshots written then must read the same, and new ones be
    /// written the same way.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OldEntry {
        nick: String,
        folded: String,
        wall_ms: u64,
    }

    /// [`NickIndex`] as it was, with the claimant sets as `C`.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OldIndex<C> {
        groups: HashMap<String, C>,
        claim_of: HashMap<Uid, (String, Stamp)>,
        losers: HashMap<String, BTreeSet<Uid>>,
        loser_key: HashMap<Uid, String>,
    }

    fn old_history() -> BTreeMap<Stamp, OldEntry> {
        [(7, "Bob", "bob"), (3, "alice", "alice")]
            .into_iter()
            .map(|(counter, nick, folded)| {
                let entry = OldEntry {
                    nick: nick.into(),
                    folded: folded.into(),
                    wall_ms: counter * 10,
                };
                (stamp(counter), entry)
            })
            .collect()
    }

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodes")
    }

    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
        let (value, used) =
            bincode::serde::decode_from_slice(bytes, bincode::config::standard()).expect("decodes");
        assert_eq!(used, bytes.len());
        value
    }

    #[test]
    fn history_keeps_its_serialized_form() {
        let old = encode(&old_history());
        let read: NickHistory = decode(&old);
        let claim = read
            .current()
            .map(|c| (&**c.nick, &**c.folded, c.stamp, c.wall_ms));
        assert_eq!(claim, Some(("Bob", "bob", stamp(7), 70)));
        let mut built = NickHistory::default();
        built.record(stamp(7), "Bob", "bob".into(), 70);
        built.record(stamp(3), "alice", "alice".into(), 30);
        assert_eq!(encode(&built), old);
    }

    #[test]
    fn index_keeps_its_serialized_form_and_sorts_what_it_reads() {
        let mut index = NickIndex::default();
        index.move_claim(uid(2), None, Some(("nick".into(), stamp(9))));
        index.move_claim(uid(1), None, Some(("nick".into(), stamp(3))));
        index.set_loser(uid(2), Some("001000002".into()));
        let old = OldIndex::<BTreeSet<(Stamp, Uid)>> {
            groups: [(
                "nick".into(),
                [(stamp(9), uid(2)), (stamp(3), uid(1))].into(),
            )]
            .into(),
            claim_of: [
                (uid(1), ("nick".into(), stamp(3))),
                (uid(2), ("nick".into(), stamp(9))),
            ]
            .into(),
            losers: [("001000002".into(), [uid(2)].into())].into(),
            loser_key: [(uid(2), "001000002".into())].into(),
        };
        assert_eq!(decode::<OldIndex<_>>(&encode(&index)), old);
        let read: NickIndex = decode(&encode(&old));
        assert_eq!(read.group("nick").collect::<Vec<_>>(), vec![uid(1), uid(2)]);
        assert_eq!(read.lookup("001000002"), Some(uid(2)));
        // Claimants written out of order still read sorted: the lowest stamp holds the nick.
        let unsorted = OldIndex::<Vec<(Stamp, Uid)>> {
            groups: [("nick".into(), vec![(stamp(9), uid(2)), (stamp(3), uid(1))])].into(),
            claim_of: HashMap::new(),
            losers: HashMap::new(),
            loser_key: HashMap::new(),
        };
        let read: NickIndex = decode(&encode(&unsorted));
        assert_eq!(read.group("nick").collect::<Vec<_>>(), vec![uid(1), uid(2)]);
    }

    #[test]
    fn lowest_stamp_holds_the_nick() {
        let mut index = NickIndex::default();
        assert_eq!(
            index.move_claim(uid(2), None, Some(("nick".into(), stamp(9)))),
            vec![Text::from("nick")]
        );
        index.move_claim(uid(1), None, Some(("nick".into(), stamp(3))));
        assert_eq!(index.lookup("nick"), Some(uid(1)));
        assert!(index.holds(uid(1), "nick") && !index.holds(uid(2), "nick"));
        assert_eq!(
            index.group("nick").collect::<Vec<_>>(),
            vec![uid(1), uid(2)]
        );
        let claim = Some(("nick".into(), stamp(3)));
        assert_eq!(
            index.move_claim(uid(1), claim, None),
            vec![Text::from("nick")]
        );
        assert!(index.holds(uid(2), "nick"));
        let claim = Some(("nick".into(), stamp(9)));
        assert!(index.move_claim(uid(2), claim.clone(), claim).is_empty());
        // A new claim leaves the old group: both groups changed.
        assert_eq!(
            index.move_claim(
                uid(2),
                Some(("nick".into(), stamp(9))),
                Some(("other".into(), stamp(11)))
            ),
            vec![Text::from("nick"), Text::from("other")]
        );
        assert_eq!(index.lookup("nick"), None);
        assert!(index.holds(uid(2), "other"));
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
