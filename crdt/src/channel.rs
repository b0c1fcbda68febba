//! Channels: the replicated record of one channel and the view clients see of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::ids::{NodeId, OpId, Uid};
use crate::lww::LwwRegister;
use crate::op::ListKind;
use crate::orset::OrSet;
use crate::prefix::{Prefixes, PREFIX_MODES};

/// A channel topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The text (never empty: an empty topic is no topic).
    pub text: String,
    /// `nick!user@host` of who set it.
    pub setter: String,
    /// Wall time it was set (Unix milliseconds).
    pub set_ms: u64,
}

/// One entry of a ban, except or invite list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The mask as its earliest add wrote it.
    pub mask: String,
    /// `nick!user@host` of who added it.
    pub setter: String,
    /// Wall time it was added (Unix milliseconds).
    pub set_ms: u64,
}

/// The last-writer-wins fields of a channel, as visible.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChannelFields {
    pub topic: Option<Topic>,
    pub flags: BTreeSet<char>,
    pub key: Option<String>,
    pub limit: Option<u32>,
}

/// What clients see of a channel that has at least one visible member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Display name: as written by the channel's founding join (see the crate docs).
    pub name: String,
    /// Wall time of the founding join (Unix milliseconds), for RPL_CREATIONTIME.
    pub created_ms: u64,
    pub(crate) members: BTreeMap<Uid, Prefixes>,
    pub(crate) fields: ChannelFields,
    pub(crate) lists: BTreeMap<ListKind, Vec<ListEntry>>,
}

impl ChannelView {
    pub(crate) fn empty() -> ChannelView {
        ChannelView {
            name: String::new(),
            created_ms: 0,
            members: BTreeMap::new(),
            fields: ChannelFields::default(),
            lists: BTreeMap::new(),
        }
    }

    /// Visible members and their prefixes, by uid.
    pub fn members(&self) -> impl Iterator<Item = (Uid, &Prefixes)> {
        self.members.iter().map(|(uid, p)| (*uid, p))
    }

    /// Number of visible members (never 0 for a visible channel).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The prefixes of `uid` if it is a visible member.
    pub fn member(&self, uid: Uid) -> Option<&Prefixes> {
        self.members.get(&uid)
    }

    /// The topic, if set.
    pub fn topic(&self) -> Option<&Topic> {
        self.fields.topic.as_ref()
    }

    /// Whether simple flag `mode` is set.
    pub fn flag(&self, mode: char) -> bool {
        self.fields.flags.contains(&mode)
    }

    /// Every simple flag set, sorted, e.g. `"nt"`.
    pub fn flags(&self) -> String {
        self.fields.flags.iter().collect()
    }

    /// The key (`+k`), if set.
    pub fn key(&self) -> Option<&str> {
        self.fields.key.as_deref()
    }

    /// The member limit (`+l`), if set.
    pub fn limit(&self) -> Option<u32> {
        self.fields.limit
    }

    /// Entries of one list, oldest add first.
    pub fn list(&self, kind: ListKind) -> impl Iterator<Item = &ListEntry> {
        self.lists.get(&kind).into_iter().flatten()
    }
}

/// A join op, kept to name the channel and date it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct JoinRec {
    uid: Uid,
    name: String,
    wall_ms: u64,
}

/// A list add op, kept while its dot is live.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ListAddRec {
    kind: ListKind,
    folded: String,
    stamp: Stamp,
    entry: ListEntry,
}

/// The replicated record of one channel (keyed by folded name), visible or not.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChannelRec {
    joins: BTreeMap<(Stamp, OpId), JoinRec>,
    /// Membership; dots are join op ids.
    pub members: OrSet<Uid>,
    /// Prefix modes per member; dots are the granting op ids.
    pub prefixes: OrSet<(Uid, char)>,
    flags: BTreeMap<char, LwwRegister<bool>>,
    key: LwwRegister<Option<String>>,
    limit: LwwRegister<Option<u32>>,
    topic: LwwRegister<Option<Topic>>,
    lists: BTreeMap<ListKind, OrSet<String>>,
    list_adds: HashMap<OpId, ListAddRec>,
    /// Highest stamp of a reset: last-writer-wins fields at or below it are hidden.
    reset_floor: Stamp,
}

/// Above every op id: the upper end of a range over `(Stamp, OpId)` keys.
const MAX_OP_ID: OpId = OpId {
    origin: NodeId(u32::MAX),
    seq: u64::MAX,
};

impl ChannelRec {
    /// Record a join op and add its membership dot (not for departed users: pass `add = false`).
    pub fn join(&mut self, id: OpId, stamp: Stamp, uid: Uid, name: &str, wall_ms: u64, add: bool) {
        self.joins.entry((stamp, id)).or_insert_with(|| JoinRec {
            uid,
            name: name.to_owned(),
            wall_ms,
        });
        if add {
            self.members.add(uid, id);
        }
    }

    /// Remove the observed join and prefix dots of `uid`.
    pub fn leave(&mut self, uid: Uid, observed: &[OpId]) {
        self.members.remove(&uid, observed);
        for (mode, _) in PREFIX_MODES {
            self.prefixes.remove(&(uid, mode), observed);
        }
    }

    /// Forget every entry of a departed user.
    pub fn purge(&mut self, uid: Uid) {
        self.members.purge(&uid);
        for (mode, _) in PREFIX_MODES {
            self.prefixes.purge(&(uid, mode));
        }
    }

    /// The channel's founding join: the lowest-stamped join above the reset floor, else (only
    /// joins concurrent with the reset keep it alive) the lowest-stamped live join. Gives the
    /// display name and creation time.
    pub fn founding(&self) -> Option<(&str, u64)> {
        let above = (
            Bound::Excluded((self.reset_floor, MAX_OP_ID)),
            Bound::Unbounded,
        );
        self.joins
            .range(above)
            .next()
            .or_else(|| {
                self.joins
                    .iter()
                    .find(|((_, id), rec)| self.members.has_dot(&rec.uid, *id))
            })
            .map(|(_, rec)| (rec.name.as_str(), rec.wall_ms))
    }

    /// The prefixes `uid` holds (whether or not it is a visible member).
    pub fn prefixes_of(&self, uid: Uid) -> Prefixes {
        Prefixes::from_modes(
            PREFIX_MODES
                .iter()
                .map(|(m, _)| *m)
                .filter(|m| self.prefixes.contains(&(uid, *m))),
        )
    }

    /// Write simple flag `mode`.
    pub fn set_flag(&mut self, mode: char, on: bool, stamp: Stamp) {
        self.flags.entry(mode).or_default().set(on, stamp);
    }

    /// Write the key.
    pub fn set_key(&mut self, key: Option<String>, stamp: Stamp) {
        self.key.set(key, stamp);
    }

    /// Write the member limit.
    pub fn set_limit(&mut self, limit: Option<u32>, stamp: Stamp) {
        self.limit.set(limit, stamp);
    }

    /// Write the topic (`None`: unset).
    pub fn set_topic(&mut self, topic: Option<Topic>, stamp: Stamp) {
        self.topic.set(topic, stamp);
    }

    /// The visible last-writer-wins fields: those written after the reset floor.
    pub fn fields(&self) -> ChannelFields {
        let live = |stamp: Stamp| stamp > self.reset_floor;
        ChannelFields {
            topic: self
                .topic
                .get()
                .clone()
                .filter(|_| live(self.topic.stamp())),
            flags: self
                .flags
                .iter()
                .filter(|(_, r)| *r.get() && live(r.stamp()))
                .map(|(m, _)| *m)
                .collect(),
            key: self.key.get().clone().filter(|_| live(self.key.stamp())),
            limit: self.limit.get().filter(|_| live(self.limit.stamp())),
        }
    }

    /// Add a list entry with the add op's dot.
    pub fn list_add(
        &mut self,
        kind: ListKind,
        folded: String,
        id: OpId,
        stamp: Stamp,
        entry: ListEntry,
    ) {
        let set = self.lists.entry(kind).or_default();
        set.add(folded.clone(), id);
        if set.has_dot(&folded, id) {
            self.list_adds.insert(
                id,
                ListAddRec {
                    kind,
                    folded,
                    stamp,
                    entry,
                },
            );
        }
    }

    /// Remove the observed dots of a list entry.
    pub fn list_remove(&mut self, kind: ListKind, folded: &str, observed: &[OpId]) {
        self.lists
            .entry(kind)
            .or_default()
            .remove(&folded.to_owned(), observed);
        self.forget_dead_list_adds(observed);
    }

    /// End the incarnation: raise the reset floor and remove the observed dots wherever they are.
    pub fn reset(&mut self, stamp: Stamp, observed: &[OpId]) {
        self.reset_floor = self.reset_floor.max(stamp);
        self.members.remove_dots(observed);
        self.prefixes.remove_dots(observed);
        for kind in ListKind::ALL {
            self.lists.entry(kind).or_default().remove_dots(observed);
        }
        self.forget_dead_list_adds(observed);
    }

    fn forget_dead_list_adds(&mut self, observed: &[OpId]) {
        for dot in observed {
            let dead = self.list_adds.get(dot).is_some_and(|rec| {
                !self
                    .lists
                    .get(&rec.kind)
                    .is_some_and(|set| set.has_dot(&rec.folded, *dot))
            });
            if dead {
                self.list_adds.remove(dot);
            }
        }
    }

    /// The visible entries of one list, oldest add first. Each entry shows its earliest live add.
    pub fn list(&self, kind: ListKind) -> Vec<ListEntry> {
        let Some(set) = self.lists.get(&kind) else {
            return Vec::new();
        };
        let mut entries: Vec<(Stamp, OpId, &ListEntry)> = set
            .iter()
            .filter_map(|folded| {
                set.dots(folded)
                    .into_iter()
                    .filter_map(|dot| {
                        self.list_adds
                            .get(&dot)
                            .map(|rec| (rec.stamp, dot, &rec.entry))
                    })
                    .min_by_key(|(stamp, dot, _)| (*stamp, *dot))
            })
            .collect();
        entries.sort_by_key(|(stamp, dot, _)| (*stamp, *dot));
        entries.into_iter().map(|(_, _, e)| e.clone()).collect()
    }

    /// Live join and prefix dots of `uid`: what a Leave must observe.
    pub fn member_dots(&self, uid: Uid) -> Vec<OpId> {
        let mut dots = self.members.dots(&uid);
        for (mode, _) in PREFIX_MODES {
            dots.extend(self.prefixes.dots(&(uid, mode)));
        }
        dots
    }

    /// Live dots of one list entry.
    pub fn list_dots(&self, kind: ListKind, folded: &str) -> Vec<OpId> {
        self.lists
            .get(&kind)
            .map(|set| set.dots(&folded.to_owned()))
            .unwrap_or_default()
    }

    /// Every live list and prefix dot: what a ChannelReset must observe.
    pub fn reset_dots(&self) -> Vec<OpId> {
        let mut dots: Vec<OpId> = self.prefixes.all_dots().collect();
        for set in self.lists.values() {
            dots.extend(set.all_dots());
        }
        dots
    }
}
