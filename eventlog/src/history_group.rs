//! History entries for several messages at once.
//!
//! After runs (run.rs) the `history` index was the one sled key still written per message, and
//! most of what a message cost the writer thread. The messages of a run that go to one target
//! are now indexed by one entry, a group: under the first one's position, the origin and each
//! message's position (wall time, msgid) and seq. A message written on its own keeps its single
//! entry (origin, seq under its own position). Groups come from one run, so they span at most
//! [`MAX_RUN_SPAN_MS`] of wall time, and reads that start at a position look back that far for
//! groups begun earlier ([`PositionScan`]).
//!
//! Which entries a run's messages get is a function of the messages alone ([`layout`]), so
//! retention can recompute the entries it must replace.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use latticed_crdt::{MsgId, NodeId, Op, OpBody, OpId};

use crate::append::history_target;
use crate::error::LogError;
use crate::keys::{self, POSITION_LEN};
use crate::run::MAX_RUN_SPAN_MS;
use crate::storage::{Scan, Space, Storage};

/// A message's place in a history: its position (wall time, msgid) and its op id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Placed {
    /// Wall time, then msgid: the history order.
    pub position: (u64, u128),
    /// The message op.
    pub id: OpId,
}

/// Bytes of one grouped message in a group value: wall time, msgid, seq.
const ITEM_LEN: usize = 8 + 16 + 8;

/// One history entry to write: its key and value.
pub(crate) type HistoryEntry = (Vec<u8>, Vec<u8>);

/// The history entries of some messages of one run (consecutive seqs of one origin): per
/// target, one group if it has several messages in strictly increasing position, else one
/// single entry per message. Ops that are not messages get none.
pub(crate) fn layout<'a>(
    messages: impl IntoIterator<Item = &'a Op>,
) -> Result<Vec<HistoryEntry>, LogError> {
    let mut targets: Vec<(Vec<u8>, Vec<Placed>)> = Vec::new();
    for op in messages {
        let OpBody::Message {
            msgid,
            from,
            target,
            ..
        } = &op.body
        else {
            continue;
        };
        let prefix = history_target(*from, target).prefix(&op.tenant)?;
        let placed = Placed {
            position: (op.wall_ms, msgid.0),
            id: op.id,
        };
        match targets.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, list)) => list.push(placed),
            None => targets.push((prefix, vec![placed])),
        }
    }
    let mut out = Vec::new();
    for (prefix, list) in targets {
        let increasing = list.windows(2).all(|w| w[0].position < w[1].position);
        if list.len() >= 2 && increasing {
            let first = list[0];
            let mut value = first.id.origin.0.to_be_bytes().to_vec();
            for placed in &list {
                value.extend_from_slice(&placed.position.0.to_be_bytes());
                value.extend_from_slice(&placed.position.1.to_be_bytes());
                value.extend_from_slice(&placed.id.seq.to_be_bytes());
            }
            out.push((position_key(&prefix, first.position), value));
        } else {
            for placed in list {
                out.push((
                    position_key(&prefix, placed.position),
                    keys::op_id_value(placed.id),
                ));
            }
        }
    }
    Ok(out)
}

fn position_key(prefix: &[u8], (wall, msgid): (u64, u128)) -> Vec<u8> {
    keys::with_position(prefix, wall, MsgId(msgid))
}

/// The messages a history entry (key after `prefix`, value) places.
pub(crate) fn decode(prefix_len: usize, key: &[u8], value: &[u8]) -> Result<Vec<Placed>, LogError> {
    let corrupt = |detail: &str| LogError::CorruptKey {
        detail: format!("history entry: {detail}"),
    };
    let position = key
        .get(prefix_len..)
        .filter(|p| p.len() == POSITION_LEN)
        .ok_or_else(|| corrupt("key is not a history position"))?;
    let wall = u64::from_be_bytes(position[..8].try_into().expect("8 bytes"));
    let msgid = u128::from_be_bytes(position[8..].try_into().expect("16 bytes"));
    if value.len() == 12 {
        return Ok(vec![Placed {
            position: (wall, msgid),
            id: keys::parse_op_id_value(value)?,
        }]);
    }
    let (origin, items) = value
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("value too short"))?;
    if items.len() < 2 * ITEM_LEN || items.len() % ITEM_LEN != 0 {
        return Err(corrupt("group value has a partial or single item"));
    }
    let origin = NodeId(u32::from_be_bytes(*origin));
    let placed: Vec<Placed> = items
        .chunks_exact(ITEM_LEN)
        .map(|item| Placed {
            position: (
                u64::from_be_bytes(item[..8].try_into().expect("8 bytes")),
                u128::from_be_bytes(item[8..24].try_into().expect("16 bytes")),
            ),
            id: OpId {
                origin,
                seq: u64::from_be_bytes(item[24..].try_into().expect("8 bytes")),
            },
        })
        .collect();
    if placed[0].position != (wall, msgid) || placed.windows(2).any(|w| w[0] >= w[1]) {
        return Err(corrupt(
            "group items out of order or not starting at its key",
        ));
    }
    Ok(placed)
}

/// The messages of one history (entries under `prefix`) between two key bounds, in position
/// order or reverse, each once, whether indexed singly or in groups.
pub(crate) struct PositionScan<'a> {
    scan: Scan<'a>,
    prefix_len: usize,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    backward: bool,
    prefix: Vec<u8>,
    /// Messages read and in bounds, not yet returned: a min-heap forward, a max-heap backward.
    ahead: BinaryHeap<Reverse<Placed>>,
    behind: BinaryHeap<Placed>,
    /// Position of the entry read last: no entry still unread holds a message before it
    /// (forward), or more than MAX_RUN_SPAN_MS after it (backward).
    frontier: Option<(u64, u128)>,
    last: Option<Placed>,
    done: bool,
}

impl<'a> PositionScan<'a> {
    /// Messages whose position key (prefix + position) lies within `start` and `end`.
    pub fn new(
        store: &'a dyn Storage,
        prefix: &[u8],
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        backward: bool,
    ) -> PositionScan<'a> {
        // Groups are keyed at their first message, up to MAX_RUN_SPAN_MS before their last: the
        // storage scan reaches that far below the lower bound.
        let lower = match &start {
            Bound::Included(key) | Bound::Excluded(key)
                if key.len() == prefix.len() + POSITION_LEN =>
            {
                let wall = u64::from_be_bytes(
                    key[prefix.len()..prefix.len() + 8]
                        .try_into()
                        .expect("8 bytes"),
                );
                Bound::Included(position_key(
                    prefix,
                    (wall.saturating_sub(MAX_RUN_SPAN_MS), 0),
                ))
            }
            other => other.clone(),
        };
        PositionScan {
            scan: store.scan(Space::History, lower, end.clone(), backward),
            prefix_len: prefix.len(),
            start,
            end,
            backward,
            prefix: prefix.to_vec(),
            ahead: BinaryHeap::new(),
            behind: BinaryHeap::new(),
            frontier: None,
            last: None,
            done: false,
        }
    }

    /// The next message that no unread entry can precede (in scan order), if one is held.
    fn ready(&mut self) -> Option<Placed> {
        if self.backward {
            let top = *self.behind.peek()?;
            let safe = self.done
                || self
                    .frontier
                    .is_some_and(|(wall, _)| top.position.0 > wall.saturating_add(MAX_RUN_SPAN_MS));
            safe.then(|| self.behind.pop()).flatten()
        } else {
            let Reverse(top) = *self.ahead.peek()?;
            let safe = self.done || self.frontier.is_some_and(|f| top.position <= f);
            safe.then(|| self.ahead.pop().map(|Reverse(p)| p)).flatten()
        }
    }

    fn in_bounds(&self, placed: &Placed) -> bool {
        let key = position_key(&self.prefix, placed.position);
        let above = match &self.start {
            Bound::Included(s) => key >= *s,
            Bound::Excluded(s) => key > *s,
            Bound::Unbounded => true,
        };
        let below = match &self.end {
            Bound::Included(e) => key <= *e,
            Bound::Excluded(e) => key < *e,
            Bound::Unbounded => true,
        };
        above && below
    }

    /// The next message, if any.
    pub fn next_placed(&mut self) -> Result<Option<Placed>, LogError> {
        loop {
            if let Some(placed) = self.ready() {
                if self.last == Some(placed) {
                    // The same message under two entries (a crash in the middle of retention
                    // rewriting a run's entries): returned once.
                    continue;
                }
                self.last = Some(placed);
                return Ok(Some(placed));
            }
            if self.done {
                return Ok(None);
            }
            let Some(item) = self.scan.next() else {
                self.done = true;
                continue;
            };
            let (key, value) = item.map_err(LogError::storage("reading history"))?;
            let entry = decode(self.prefix_len, &key, &value)?;
            let first = entry[0].position;
            self.frontier = Some(first);
            for placed in entry {
                if self.in_bounds(&placed) {
                    if self.backward {
                        self.behind.push(placed);
                    } else {
                        self.ahead.push(Reverse(placed));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use latticed_crdt::{
        LamportClock, MessageKind, MessageTarget, NodeId, Op, OpBody, OpId, TenantId, Uid,
    };

    use super::*;

    fn say(seq: u64, wall_ms: u64, channel: &str) -> Op {
        Op {
            tenant: TenantId("t".into()),
            id: OpId {
                origin: NodeId(1),
                seq,
            },
            stamp: LamportClock::new(NodeId(1)).tick(),
            wall_ms,
            body: OpBody::Message {
                msgid: MsgId((u128::from(wall_ms) << 80) | u128::from(seq)),
                from: Uid {
                    node: NodeId(1),
                    n: 1,
                },
                source: "n!u@h".into(),
                target: MessageTarget::Channel(channel.into()),
                kind: MessageKind::Privmsg,
                text: "hi".into(),
                tags: vec![],
            },
        }
    }

    #[test]
    fn one_group_per_target_and_singles_where_positions_do_not_increase() {
        let ops = [
            say(1, 10, "#a"),
            say(2, 11, "#b"),
            say(3, 12, "#a"),
            say(4, 13, "#c"),
            say(5, 13, "#c"),
            say(6, 12, "#c"),
        ];
        let entries = layout(&ops).unwrap();
        let placed: Vec<Vec<u64>> = entries
            .iter()
            .map(|(key, value)| {
                let prefix_len = key.len() - POSITION_LEN;
                decode(prefix_len, key, value)
                    .unwrap()
                    .iter()
                    .map(|p| p.id.seq)
                    .collect()
            })
            .collect();
        // #a grouped; #b alone; #c's third message is earlier than its second: all singles.
        assert_eq!(placed, vec![vec![1, 3], vec![2], vec![4], vec![5], vec![6]]);
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        let ops = [say(1, 10, "#a"), say(2, 11, "#a"), say(3, 12, "#a")];
        let (key, value) = layout(&ops).unwrap().remove(0);
        let prefix_len = key.len() - POSITION_LEN;
        assert_eq!(decode(prefix_len, &key, &value).unwrap().len(), 3);
        for len in 0..value.len() {
            // Cut at an item boundary, a group of fewer messages is still well formed.
            let whole_items = len >= 4 + 2 * ITEM_LEN && (len - 4) % ITEM_LEN == 0;
            if len != 12 && !whole_items {
                assert!(
                    decode(prefix_len, &key, &value[..len]).is_err(),
                    "cut to {len}"
                );
            }
        }
        for i in 0..value.len() {
            let mut damaged = value.clone();
            damaged[i] ^= 0x80;
            let _ = decode(prefix_len, &key, &damaged);
        }
        assert!(decode(prefix_len, &key[..key.len() - 1], &value).is_err());
        // The first item must sit at the entry's own position.
        let mut moved = key.clone();
        *moved.last_mut().unwrap() ^= 1;
        assert!(decode(prefix_len, &moved, &value).is_err());
    }
}
