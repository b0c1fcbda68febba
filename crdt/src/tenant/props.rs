//! Property tests of the composed tenant state: the same ops in any order, with duplicates, give
//! the same visible network; that network is the one the rules define; and the changes `apply`
//! reports, replayed the way a client sees them, rebuild exactly that network.

use std::collections::{BTreeMap, BTreeSet};

use latticed_proto::CaseMapping;
use proptest::prelude::*;

use super::TenantState;
use crate::change::Change;
use crate::clock::Stamp;
use crate::ids::{MsgId, NodeId, OpId, TenantId, Uid};
use crate::op::{LeaveCause, ListKind, MessageKind, MessageTarget, Op, OpBody};
use crate::test_support::delivery;
use crate::user::UserView;

const CM: CaseMapping = CaseMapping::Rfc1459;
const UIDS: [(u32, u64); 4] = [(1, 1), (2, 1), (3, 1), (1, 2)];
const CHANNELS: [&str; 4] = ["#a", "#A", "#b", "#c"];
const NICKS: [&str; 5] = ["alice", "ALICE", "bob", "Bob", "carol"];
const MASKS: [&str; 3] = ["*!*@x", "*!*@X", "*!*@y"];
const FLAGS: [char; 3] = ['n', 't', 'm'];
/// `x` is not a prefix mode: ops with it must be ignored.
const PREFIXES: [char; 3] = ['o', 'v', 'x'];
const USER_MODES: [char; 2] = ['i', 'w'];

fn tenant() -> TenantId {
    TenantId("net".into())
}

fn uid(i: usize) -> Uid {
    let (node, n) = UIDS[i];
    Uid {
        node: NodeId(node),
        n,
    }
}

/// One generated op before ids are known; `pick` selects observed dots among the candidates.
#[derive(Clone, Debug)]
enum Spec {
    Arrive(usize, usize),
    Depart(usize),
    Nick(usize, usize),
    Away(usize, bool),
    Host(usize, usize),
    UserMode(usize, usize, bool),
    Join(usize, usize),
    Leave(usize, usize, u8),
    Prefix(usize, usize, usize, bool, u8),
    Flag(usize, usize, bool),
    Key(usize, Option<usize>),
    Limit(usize, Option<u32>),
    Topic(usize, usize),
    ListAdd(usize, usize, usize),
    ListRemove(usize, usize, usize, u8),
    Reset(usize, u8),
    Message(usize),
}

fn spec() -> impl Strategy<Value = Spec> {
    let u = || 0..UIDS.len();
    let c = || 0..CHANNELS.len();
    prop_oneof![
        3 => (u(), 0..NICKS.len()).prop_map(|(u, n)| Spec::Arrive(u, n)),
        1 => u().prop_map(Spec::Depart),
        1 => (u(), 0..NICKS.len()).prop_map(|(u, n)| Spec::Nick(u, n)),
        1 => (u(), any::<bool>()).prop_map(|(u, a)| Spec::Away(u, a)),
        1 => (u(), 0..2usize).prop_map(|(u, h)| Spec::Host(u, h)),
        1 => (u(), 0..USER_MODES.len(), any::<bool>()).prop_map(|(u, m, on)| Spec::UserMode(u, m, on)),
        4 => (c(), u()).prop_map(|(c, u)| Spec::Join(c, u)),
        2 => (c(), u(), any::<u8>()).prop_map(|(c, u, p)| Spec::Leave(c, u, p)),
        2 => (c(), u(), 0..PREFIXES.len(), any::<bool>(), any::<u8>())
            .prop_map(|(c, u, m, on, p)| Spec::Prefix(c, u, m, on, p)),
        1 => (c(), 0..FLAGS.len(), any::<bool>()).prop_map(|(c, m, on)| Spec::Flag(c, m, on)),
        1 => (c(), prop::option::of(0..2usize)).prop_map(|(c, k)| Spec::Key(c, k)),
        1 => (c(), prop::option::of(1..3u32)).prop_map(|(c, l)| Spec::Limit(c, l)),
        1 => (c(), 0..3usize).prop_map(|(c, t)| Spec::Topic(c, t)),
        2 => (c(), 0..3usize, 0..MASKS.len()).prop_map(|(c, k, m)| Spec::ListAdd(c, k, m)),
        1 => (c(), 0..3usize, 0..MASKS.len(), any::<u8>()).prop_map(|(c, k, m, p)| Spec::ListRemove(c, k, m, p)),
        1 => (c(), any::<u8>()).prop_map(|(c, p)| Spec::Reset(c, p)),
        1 => u().prop_map(Spec::Message),
    ]
}

/// Ops over a small universe (3 nodes, 4 users, 3 channels, colliding nicks and masks), with
/// distinct stamps in an order unrelated to generation, and observed dots drawn from the ids of
/// the generated ops that added what is being removed.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((spec(), 1u32..=3, 0u64..16), 1..40).prop_map(build)
}

fn build(specs: Vec<(Spec, u32, u64)>) -> Vec<Op> {
    let mut seqs = BTreeMap::new();
    let ids: Vec<OpId> = specs
        .iter()
        .map(|(_, node, _)| {
            let seq = seqs.entry(*node).or_insert(0u64);
            *seq += 1;
            OpId {
                origin: NodeId(*node),
                seq: *seq,
            }
        })
        .collect();
    let folded = |c: usize| CM.fold(CHANNELS[c]);
    let pick = |bits: u8, wanted: &dyn Fn(&Spec) -> bool| -> Vec<OpId> {
        specs
            .iter()
            .zip(&ids)
            .filter(|((s, ..), _)| wanted(s))
            .enumerate()
            .filter(|(j, _)| bits & (1 << (j % 8)) != 0)
            .map(|(_, (_, id))| *id)
            .collect()
    };
    let list_kind = |k: usize| ListKind::ALL[k];
    specs
        .iter()
        .enumerate()
        .map(|(i, (spec, node, counter))| {
            let body = match spec {
                Spec::Arrive(u, n) => OpBody::UserArrive {
                    uid: uid(*u),
                    nick: NICKS[*n].into(),
                    user: "user".into(),
                    host: "host".into(),
                    realname: format!("real {u}"),
                    ip: "127.0.0.1".into(),
                    account: None,
                    modes: "i".into(),
                },
                Spec::Depart(u) => OpBody::UserDepart {
                    uid: uid(*u),
                    reason: "quit".into(),
                },
                Spec::Nick(u, n) => OpBody::NickChange {
                    uid: uid(*u),
                    nick: NICKS[*n].into(),
                },
                Spec::Away(u, away) => OpBody::SetAway {
                    uid: uid(*u),
                    away: away.then(|| "away".into()),
                },
                Spec::Host(u, h) => OpBody::SetHost {
                    uid: uid(*u),
                    user: "user".into(),
                    host: format!("host{h}"),
                },
                Spec::UserMode(u, m, on) => OpBody::SetUserMode {
                    uid: uid(*u),
                    mode: USER_MODES[*m],
                    on: *on,
                },
                Spec::Join(c, u) => OpBody::Join {
                    channel: CHANNELS[*c].into(),
                    uid: uid(*u),
                },
                Spec::Leave(c, u, bits) => OpBody::Leave {
                    channel: CHANNELS[*c].into(),
                    uid: uid(*u),
                    observed: pick(*bits, &|s| match s {
                        Spec::Join(c2, u2) | Spec::Prefix(c2, u2, _, true, _) => {
                            folded(*c2) == folded(*c) && u2 == u
                        }
                        _ => false,
                    }),
                    cause: LeaveCause::Part { reason: None },
                },
                Spec::Prefix(c, u, m, on, bits) => OpBody::SetPrefix {
                    channel: CHANNELS[*c].into(),
                    uid: uid(*u),
                    mode: PREFIXES[*m],
                    on: *on,
                    observed: if *on {
                        Vec::new()
                    } else {
                        pick(*bits, &|s| {
                            matches!(s, Spec::Prefix(c2, u2, m2, true, _)
                                if folded(*c2) == folded(*c) && u2 == u && m2 == m)
                        })
                    },
                    by: uid(0),
                },
                Spec::Flag(c, m, on) => OpBody::SetChannelFlag {
                    channel: CHANNELS[*c].into(),
                    mode: FLAGS[*m],
                    on: *on,
                    by: uid(0),
                },
                Spec::Key(c, k) => OpBody::SetKey {
                    channel: CHANNELS[*c].into(),
                    key: k.map(|k| format!("key{k}")),
                    by: uid(0),
                },
                Spec::Limit(c, limit) => OpBody::SetLimit {
                    channel: CHANNELS[*c].into(),
                    limit: *limit,
                    by: uid(0),
                },
                Spec::Topic(c, t) => OpBody::SetTopic {
                    channel: CHANNELS[*c].into(),
                    topic: ["", "one", "two"][*t].into(),
                    setter: "n!u@h".into(),
                    by: uid(0),
                },
                Spec::ListAdd(c, k, m) => OpBody::ListAdd {
                    channel: CHANNELS[*c].into(),
                    kind: list_kind(*k),
                    mask: MASKS[*m].into(),
                    setter: "n!u@h".into(),
                    by: uid(0),
                },
                Spec::ListRemove(c, k, m, bits) => OpBody::ListRemove {
                    channel: CHANNELS[*c].into(),
                    kind: list_kind(*k),
                    mask: MASKS[*m].into(),
                    observed: pick(*bits, &|s| {
                        matches!(s, Spec::ListAdd(c2, k2, m2)
                            if folded(*c2) == folded(*c) && k2 == k && CM.eq(MASKS[*m2], MASKS[*m]))
                    }),
                    by: uid(0),
                },
                Spec::Reset(c, bits) => OpBody::ChannelReset {
                    channel: CHANNELS[*c].into(),
                    observed: pick(*bits, &|s| match s {
                        Spec::ListAdd(c2, ..) | Spec::Prefix(c2, _, _, true, _) => {
                            folded(*c2) == folded(*c)
                        }
                        _ => false,
                    }),
                },
                Spec::Message(u) => OpBody::Message {
                    msgid: MsgId(i as u128),
                    from: uid(*u),
                    source: "n!u@h".to_owned(),
                    target: MessageTarget::Channel(CHANNELS[0].into()),
                    kind: MessageKind::Privmsg,
                    text: "hi".into(),
                    tags: Vec::new(),
                },
            };
            Op {
                tenant: tenant(),
                id: ids[i],
                stamp: Stamp {
                    counter: counter * 64 + i as u64 + 1,
                    node: NodeId(*node),
                },
                wall_ms: counter * 1000 + i as u64,
                body,
            }
        })
        .collect()
}

fn fresh() -> TenantState {
    TenantState::new(tenant(), CM)
}

fn run(order: &[Op]) -> TenantState {
    let mut state = fresh();
    for op in order {
        state.apply(op).expect("same tenant");
    }
    state
}

/// The visible network as the rules define it, computed directly from the set of ops.
#[derive(Debug, PartialEq, Eq)]
struct Network {
    /// uid -> effective nick.
    users: BTreeMap<Uid, String>,
    /// folded channel -> (member -> prefix letters, flags, topic text, key, limit, list masks).
    channels: BTreeMap<String, ChannelFacts>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct ChannelFacts {
    members: BTreeMap<Uid, String>,
    flags: BTreeSet<char>,
    topic: Option<String>,
    key: Option<String>,
    limit: Option<u32>,
    lists: BTreeSet<(ListKind, String)>,
}

/// What the state shows, in the same shape as [`expected`].
fn shown(state: &TenantState) -> Network {
    Network {
        users: state.users().map(|u| (u.uid, u.nick.to_string())).collect(),
        channels: state
            .channels()
            .map(|c| {
                let facts = ChannelFacts {
                    members: c.members().map(|(u, p)| (u, p.modes())).collect(),
                    flags: c.flags().chars().collect(),
                    topic: c.topic().map(|t| t.text.clone()),
                    key: c.key().map(str::to_owned),
                    limit: c.limit(),
                    lists: ListKind::ALL
                        .into_iter()
                        .flat_map(|k| c.list(k).map(move |e| (k, CM.fold(&e.mask))))
                        .collect(),
                };
                (CM.fold(&c.name), facts)
            })
            .collect(),
    }
}

/// The network straight from the definitions (no incremental state): visibility, add-wins
/// removal of exactly the observed dots, last-writer-wins above the reset floor, lowest claim
/// stamp holds a nick.
fn expected(ops: &[Op]) -> Network {
    let mut unique: BTreeMap<OpId, &Op> = BTreeMap::new();
    for op in ops {
        unique.insert(op.id, op);
    }
    let ops: Vec<&Op> = unique.into_values().collect();
    let visible = |u: Uid| {
        ops.iter()
            .any(|o| matches!(&o.body, OpBody::UserArrive { uid, .. } if *uid == u))
            && !ops
                .iter()
                .any(|o| matches!(&o.body, OpBody::UserDepart { uid, .. } if *uid == u))
    };
    let removed_by = |id: OpId, remover: &dyn Fn(&OpBody) -> Option<Vec<OpId>>| {
        ops.iter()
            .any(|o| remover(&o.body).is_some_and(|observed| observed.contains(&id)))
    };
    let reset_observed = |c: &str| {
        let c = c.to_owned();
        move |b: &OpBody| match b {
            OpBody::ChannelReset { channel, observed } if CM.fold(channel) == c => {
                Some(observed.clone())
            }
            _ => None,
        }
    };
    let left_observed = |c: &str, u: Uid| {
        let c = c.to_owned();
        move |b: &OpBody| match b {
            OpBody::Leave {
                channel,
                uid,
                observed,
                ..
            } if CM.fold(channel) == c && *uid == u => Some(observed.clone()),
            _ => None,
        }
    };

    let mut channels: BTreeMap<String, ChannelFacts> = BTreeMap::new();
    for op in &ops {
        if let OpBody::Join { channel, uid } = &op.body {
            let c = CM.fold(channel);
            if visible(*uid)
                && !removed_by(op.id, &left_observed(&c, *uid))
                && !removed_by(op.id, &reset_observed(&c))
            {
                channels
                    .entry(c)
                    .or_default()
                    .members
                    .insert(*uid, String::new());
            }
        }
    }
    for (c, facts) in channels.iter_mut() {
        for (member, prefixes) in facts.members.iter_mut() {
            for mode in ['o', 'v'] {
                let granted = ops.iter().any(|o| match &o.body {
                    OpBody::SetPrefix {
                        channel,
                        uid,
                        mode: m,
                        on: true,
                        ..
                    } if CM.fold(channel) == *c && uid == member && *m == mode => {
                        let taken = |b: &OpBody| match b {
                            OpBody::SetPrefix {
                                channel,
                                uid,
                                mode: m,
                                on: false,
                                observed,
                                ..
                            } if CM.fold(channel) == *c && uid == member && *m == mode => {
                                Some(observed.clone())
                            }
                            _ => None,
                        };
                        !removed_by(o.id, &taken)
                            && !removed_by(o.id, &left_observed(c, *member))
                            && !removed_by(o.id, &reset_observed(c))
                    }
                    _ => false,
                });
                if granted {
                    prefixes.push(mode);
                }
            }
        }
        let floor = ops
            .iter()
            .filter(|o| reset_observed(c)(&o.body).is_some())
            .map(|o| o.stamp)
            .max()
            .unwrap_or(Stamp::ZERO);
        let in_channel = |b: &OpBody| match b {
            OpBody::SetChannelFlag { channel, .. }
            | OpBody::SetKey { channel, .. }
            | OpBody::SetLimit { channel, .. }
            | OpBody::SetTopic { channel, .. } => CM.fold(channel) == *c,
            _ => false,
        };
        let latest = |kind: &dyn Fn(&OpBody) -> bool| {
            ops.iter()
                .filter(|o| in_channel(&o.body) && kind(&o.body))
                .max_by_key(|o| o.stamp)
                .filter(|o| o.stamp > floor)
                .map(|o| &o.body)
        };
        for flag in FLAGS {
            if let Some(OpBody::SetChannelFlag { on: true, .. }) =
                latest(&|b| matches!(b, OpBody::SetChannelFlag { mode, .. } if *mode == flag))
            {
                facts.flags.insert(flag);
            }
        }
        if let Some(OpBody::SetKey { key, .. }) = latest(&|b| matches!(b, OpBody::SetKey { .. })) {
            facts.key.clone_from(key);
        }
        if let Some(OpBody::SetLimit { limit, .. }) =
            latest(&|b| matches!(b, OpBody::SetLimit { .. }))
        {
            facts.limit = *limit;
        }
        if let Some(OpBody::SetTopic { topic, .. }) =
            latest(&|b| matches!(b, OpBody::SetTopic { .. }))
        {
            facts.topic = (!topic.is_empty()).then(|| topic.clone());
        }
        for op in &ops {
            if let OpBody::ListAdd {
                channel,
                kind,
                mask,
                ..
            } = &op.body
            {
                let removed = |b: &OpBody| match b {
                    OpBody::ListRemove {
                        channel: ch,
                        kind: k,
                        mask: m,
                        observed,
                        ..
                    } if CM.fold(ch) == *c && k == kind && CM.eq(m, mask) => Some(observed.clone()),
                    _ => None,
                };
                if CM.fold(channel) == *c
                    && !removed_by(op.id, &removed)
                    && !removed_by(op.id, &reset_observed(c))
                {
                    facts.lists.insert((*kind, CM.fold(mask)));
                }
            }
        }
    }

    // Nick claims: the latest nick of each live user, claimed since the start of its run of
    // same-folded nicks; the lowest claim stamp per folded nick holds it.
    let mut claims: BTreeMap<Uid, (String, Stamp)> = BTreeMap::new();
    for u in (0..UIDS.len()).map(uid).filter(|u| visible(*u)) {
        let mut history: Vec<(Stamp, &String)> = ops
            .iter()
            .filter_map(|o| match &o.body {
                OpBody::UserArrive { uid, nick, .. } | OpBody::NickChange { uid, nick }
                    if *uid == u =>
                {
                    Some((o.stamp, nick))
                }
                _ => None,
            })
            .collect();
        history.sort();
        let Some((_, last)) = history.last().copied() else {
            continue;
        };
        let start = history
            .iter()
            .rev()
            .take_while(|(_, n)| CM.eq(n, last))
            .last()
            .map(|(s, _)| *s)
            .unwrap_or(Stamp::ZERO);
        claims.insert(u, (last.clone(), start));
    }
    let users = claims
        .iter()
        .map(|(u, (nick, stamp))| {
            let holds = claims
                .iter()
                .filter(|(_, (other, _))| CM.eq(other, nick))
                .all(|(v, (_, s))| (stamp, u) <= (s, v));
            (*u, if holds { nick.clone() } else { u.to_string() })
        })
        .collect();

    channels.retain(|_, facts| !facts.members.is_empty());
    Network { users, channels }
}

/// What a client learns from the changes alone, checked for consistency at every step.
#[derive(Debug, Default)]
struct Seen {
    users: BTreeMap<Uid, String>,
    channels: BTreeMap<String, ChannelFacts>,
}

impl Seen {
    /// Apply the changes of one op; `state` is the state after it (changes say *that*, the state
    /// says *what*).
    fn replay(&mut self, changes: &[Change], state: &TenantState) -> Result<(), TestCaseError> {
        for change in changes {
            match change {
                Change::UserArrived { uid } => {
                    let nick = state.user(*uid).map(|u| u.nick.to_string());
                    prop_assert!(nick.is_some(), "{:?}", change);
                    prop_assert!(self.users.insert(*uid, nick.unwrap_or_default()).is_none());
                }
                Change::UserDeparted {
                    uid,
                    nick,
                    channels,
                    ..
                } => {
                    let last_nick = self.users.remove(uid);
                    prop_assert_eq!(last_nick.as_ref(), Some(nick));
                    let was_in: BTreeSet<String> = self
                        .channels
                        .iter()
                        .filter(|(_, c)| c.members.contains_key(uid))
                        .map(|(name, _)| name.clone())
                        .collect();
                    let reported: BTreeSet<String> = channels.iter().map(|c| CM.fold(c)).collect();
                    prop_assert_eq!(&was_in, &reported);
                    for name in was_in {
                        self.leave(&name, *uid)?;
                    }
                }
                Change::NickChanged { uid, old, new } => {
                    let entry = self.users.get_mut(uid);
                    prop_assert_eq!(entry.as_deref(), Some(old));
                    if let Some(nick) = entry {
                        nick.clone_from(new);
                    }
                }
                Change::Joined { channel, uid } => {
                    prop_assert!(self.users.contains_key(uid), "{:?}", change);
                    let members = &mut self.channels.entry(CM.fold(channel)).or_default().members;
                    prop_assert!(
                        members.insert(*uid, String::new()).is_none(),
                        "{:?}",
                        change
                    );
                }
                Change::Left { channel, uid } => {
                    prop_assert!(self.users.contains_key(uid), "{:?}", change);
                    self.leave(&CM.fold(channel), *uid)?;
                }
                Change::PrefixChanged {
                    channel,
                    uid,
                    mode,
                    on,
                } => {
                    let prefixes = self.channel(channel)?.members.get_mut(uid);
                    prop_assert!(prefixes.is_some(), "{:?}", change);
                    if let Some(prefixes) = prefixes {
                        prop_assert_eq!(prefixes.contains(*mode), !on);
                        let mut set: BTreeSet<char> = prefixes.chars().collect();
                        if *on {
                            set.insert(*mode);
                        } else {
                            set.remove(mode);
                        }
                        *prefixes = ['o', 'v'].into_iter().filter(|m| set.contains(m)).collect();
                    }
                }
                Change::ChannelFlagChanged { channel, mode, on } => {
                    let flags = &mut self.channel(channel)?.flags;
                    prop_assert_eq!(flags.contains(mode), !on);
                    if *on {
                        flags.insert(*mode);
                    } else {
                        flags.remove(mode);
                    }
                }
                Change::KeyChanged { channel } => {
                    let now = state
                        .channel(channel)
                        .and_then(|c| c.key())
                        .map(str::to_owned);
                    let facts = self.channel(channel)?;
                    prop_assert_ne!(&facts.key, &now);
                    facts.key = now;
                }
                Change::LimitChanged { channel } => {
                    let now = state.channel(channel).and_then(|c| c.limit());
                    let facts = self.channel(channel)?;
                    prop_assert_ne!(facts.limit, now);
                    facts.limit = now;
                }
                Change::TopicChanged { channel } => {
                    let now = state
                        .channel(channel)
                        .and_then(|c| c.topic())
                        .map(|t| t.text.clone());
                    self.channel(channel)?.topic = now;
                }
                Change::ListChanged {
                    channel,
                    kind,
                    mask,
                    added,
                } => {
                    let lists = &mut self.channel(channel)?.lists;
                    let entry = (*kind, CM.fold(mask));
                    if *added {
                        prop_assert!(lists.insert(entry), "{:?}", change);
                    } else {
                        prop_assert!(lists.remove(&entry), "{:?}", change);
                    }
                }
                Change::AwayChanged { .. }
                | Change::RealnameChanged { .. }
                | Change::HostChanged { .. }
                | Change::AccountChanged { .. }
                | Change::UserModeChanged { .. } => {}
            }
            // No two users ever share a nick, not even between two changes of one op.
            let nicks: BTreeSet<String> = self.users.values().map(|n| CM.fold(n)).collect();
            prop_assert_eq!(
                nicks.len(),
                self.users.len(),
                "{:?} after {:?}",
                self.users,
                change
            );
        }
        Ok(())
    }

    fn channel(&mut self, name: &str) -> Result<&mut ChannelFacts, TestCaseError> {
        let facts = self.channels.get_mut(&CM.fold(name));
        prop_assert!(facts.is_some(), "change for unseen channel {}", name);
        facts.ok_or_else(|| TestCaseError::fail("unreachable"))
    }

    fn leave(&mut self, folded: &str, uid: Uid) -> Result<(), TestCaseError> {
        let facts = self.channels.get_mut(folded);
        prop_assert!(facts.as_ref().is_some_and(|f| f.members.contains_key(&uid)));
        if let Some(facts) = facts {
            facts.members.remove(&uid);
            if facts.members.is_empty() {
                self.channels.remove(folded);
            }
        }
        Ok(())
    }

    fn network(&self) -> Network {
        Network {
            users: self.users.clone(),
            channels: self
                .channels
                .iter()
                .map(|(name, f)| {
                    let facts = ChannelFacts {
                        members: f.members.clone(),
                        flags: f.flags.clone(),
                        topic: f.topic.clone(),
                        key: f.key.clone(),
                        limit: f.limit,
                        lists: f.lists.clone(),
                    };
                    (name.clone(), facts)
                })
                .collect(),
        }
    }
}

/// The counts of users by user mode agree with the users' views, and so does `has_user_mode`.
fn mode_counts_agree(state: &TenantState) -> Result<(), TestCaseError> {
    for mode in USER_MODES {
        let users: Vec<UserView> = state.users().collect();
        let with_mode = users.iter().filter(|u| u.modes.contains(&mode)).count();
        prop_assert_eq!(state.users_with_mode(mode), with_mode, "mode {}", mode);
        for user in &users {
            prop_assert_eq!(
                state.has_user_mode(user.uid, mode),
                user.modes.contains(&mode)
            );
        }
    }
    Ok(())
}

/// The nick index holds exactly the live users' claims as their records say them: the
/// refresh moves a claim from what was noted before the op, so a missed note would show here.
fn nick_index_agrees(state: &TenantState) -> Result<(), TestCaseError> {
    let from_records: BTreeSet<_> = state
        .uids()
        .filter_map(|uid| {
            let (folded, stamp) = state.indexed_claim(uid)?;
            Some((uid, folded, stamp))
        })
        .collect();
    prop_assert_eq!(state.nicks.claims(), from_records);
    Ok(())
}

proptest! {
    /// Two deliveries in random orders with duplicates, and the generation order, all give the
    /// same snapshot, and it is the network the rules define.
    #[test]
    fn converges_to_the_defined_network(
        (ops, a, b) in ops().prop_flat_map(|ops| (Just(ops.clone()), delivery(ops.clone()), delivery(ops)))
    ) {
        let in_order = run(&ops);
        let a = run(&a);
        let b = run(&b);
        prop_assert_eq!(a.snapshot(), b.snapshot());
        prop_assert_eq!(in_order.snapshot(), a.snapshot());
        prop_assert_eq!(shown(&a), expected(&ops));
        let nicks: BTreeSet<String> = a.users().map(|u| CM.fold(&u.nick)).collect();
        prop_assert_eq!(nicks.len(), a.user_count());
        for user in a.users() {
            prop_assert_eq!(a.uid_by_nick(&user.nick), Some(user.uid));
        }
        for channel in a.channels() {
            for (member, _) in channel.members() {
                prop_assert!(a.channels_of(member).any(|c| c.name == channel.name));
            }
        }
    }

    /// Replaying the reported changes, as a client would, rebuilds the visible network after
    /// every op, never reports a change that is not one, and never shows two users one nick.
    #[test]
    fn changes_replay_to_the_visible_network(
        order in ops().prop_flat_map(delivery)
    ) {
        let mut state = fresh();
        let mut seen = Seen::default();
        for op in &order {
            let changes = state.apply(op).expect("same tenant");
            seen.replay(&changes, &state)?;
            prop_assert_eq!(seen.network(), shown(&state));
            mode_counts_agree(&state)?;
            nick_index_agrees(&state)?;
        }
    }
}

/// `state` through the snapshot encoding (bincode 2, serde, standard configuration) and back.
fn through_bincode(state: &TenantState) -> Result<TenantState, TestCaseError> {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(state, config)
        .map_err(|e| TestCaseError::fail(format!("encoding: {e}")))?;
    let (restored, used): (TenantState, usize) = bincode::serde::decode_from_slice(&bytes, config)
        .map_err(|e| TestCaseError::fail(format!("decoding: {e}")))?;
    prop_assert_eq!(used, bytes.len());
    Ok(restored)
}

/// What a replica must agree on beyond the visible network: the dots a remover would observe.
fn observable_dots(state: &TenantState) -> Vec<Vec<OpId>> {
    let mut dots = Vec::new();
    for channel in CHANNELS {
        dots.push(state.channel_reset_dots(channel));
        for u in 0..UIDS.len() {
            dots.push(state.member_dots(channel, uid(u)));
            for mode in PREFIXES {
                dots.push(state.prefix_dots(channel, uid(u), mode));
            }
        }
        for kind in ListKind::ALL {
            for mask in MASKS {
                dots.push(state.list_dots(channel, kind, mask));
            }
        }
    }
    dots
}

proptest! {
    /// A state serialized as a snapshot stores it and read back is a true replica: it shows the
    /// same network and offers the same dots, and every later op, in any order with duplicates,
    /// reports the same changes on it as on the original and leads to the same network, the one
    /// the rules define for all the ops.
    #[test]
    fn a_state_restored_from_its_serialized_form_is_a_replica(
        (ops, order, split) in ops()
            .prop_flat_map(|ops| (Just(ops.clone()), delivery(ops)))
            .prop_flat_map(|(ops, order)| {
                let n = order.len();
                (Just(ops), Just(order), 0..=n)
            })
    ) {
        let (before, after) = order.split_at(split);
        let mut original = run(before);
        let mut restored = through_bincode(&original)?;
        prop_assert_eq!(restored.snapshot(), original.snapshot());
        mode_counts_agree(&restored)?;
        nick_index_agrees(&restored)?;
        prop_assert_eq!(observable_dots(&restored), observable_dots(&original));
        for op in after {
            let expected_changes = original.apply(op).expect("same tenant");
            prop_assert_eq!(restored.apply(op).expect("same tenant"), expected_changes);
        }
        prop_assert_eq!(restored.snapshot(), original.snapshot());
        prop_assert_eq!(observable_dots(&restored), observable_dots(&original));
        prop_assert_eq!(shown(&restored), expected(&ops));
        mode_counts_agree(&restored)?;
        nick_index_agrees(&restored)?;
        for user in restored.users() {
            prop_assert_eq!(restored.uid_by_nick(&user.nick), Some(user.uid));
        }
    }
}
