//! Unit tests of the composed tenant state: the conflict rules, one scenario at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use latticed_proto::CaseMapping;

use super::TenantState;
use crate::change::Change;
use crate::clock::Stamp;
use crate::error::ApplyError;
use crate::ids::{MsgId, NodeId, OpId, TenantId, Uid};
use crate::op::{LeaveCause, ListKind, MessageKind, MessageTarget, Op, OpBody};
use crate::user::UserView;

fn tenant() -> TenantId {
    TenantId("net".into())
}

fn uid(node: u32, n: u64) -> Uid {
    Uid {
        node: NodeId(node),
        n,
    }
}

fn state() -> TenantState {
    TenantState::new(tenant(), CaseMapping::Rfc1459)
}

/// Makes ops with contiguous sequence numbers per origin node.
#[derive(Default)]
struct Ops {
    seqs: HashMap<u32, u64>,
}

impl Ops {
    /// An op from `node` stamped `counter` (wall time: `counter` seconds).
    fn make(&mut self, node: u32, counter: u64, body: OpBody) -> Op {
        let seq = self.seqs.entry(node).or_default();
        *seq += 1;
        Op {
            tenant: tenant(),
            id: OpId {
                origin: NodeId(node),
                seq: *seq,
            },
            stamp: Stamp {
                counter,
                node: NodeId(node),
            },
            wall_ms: counter * 1000,
            body,
        }
    }
}

fn arrive(uid: Uid, nick: &str) -> OpBody {
    OpBody::UserArrive {
        uid,
        nick: nick.into(),
        user: "u".into(),
        host: "h".into(),
        realname: "r".into(),
        ip: "127.0.0.1".into(),
        account: None,
        modes: "i".into(),
    }
}

fn depart(uid: Uid) -> OpBody {
    OpBody::UserDepart {
        uid,
        reason: "bye".into(),
    }
}

fn join(channel: &str, uid: Uid) -> OpBody {
    OpBody::Join {
        channel: channel.into(),
        uid,
    }
}

fn kick(channel: &str, uid: Uid, observed: Vec<OpId>, by: Uid) -> OpBody {
    OpBody::Leave {
        channel: channel.into(),
        uid,
        observed,
        cause: LeaveCause::Kick {
            by,
            reason: "out".into(),
        },
    }
}

fn prefix(channel: &str, uid: Uid, on: bool, observed: Vec<OpId>, by: Uid) -> OpBody {
    OpBody::SetPrefix {
        channel: channel.into(),
        uid,
        mode: 'o',
        on,
        observed,
        by,
    }
}

fn ban(channel: &str, mask: &str, by: Uid) -> OpBody {
    OpBody::ListAdd {
        channel: channel.into(),
        kind: ListKind::Ban,
        mask: mask.into(),
        setter: "op!u@h".into(),
        by,
    }
}

fn unban(channel: &str, mask: &str, observed: Vec<OpId>, by: Uid) -> OpBody {
    OpBody::ListRemove {
        channel: channel.into(),
        kind: ListKind::Ban,
        mask: mask.into(),
        observed,
        by,
    }
}

fn apply_all(state: &mut TenantState, ops: &[&Op]) -> Vec<Change> {
    ops.iter()
        .flat_map(|op| state.apply(op).expect("same tenant"))
        .collect()
}

fn bans(state: &TenantState, channel: &str) -> Vec<String> {
    state
        .channel(channel)
        .map(|c| c.list(ListKind::Ban).map(|e| e.mask.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn arrival_and_departure_are_reported_with_the_last_identity() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let mut s = state();
    let arrive = ops.make(1, 1, arrive(a, "Alice"));
    let join = ops.make(1, 2, join("#Chan", a));
    assert_eq!(
        apply_all(&mut s, &[&arrive, &join]),
        vec![
            Change::UserArrived { uid: a },
            Change::Joined {
                channel: "#Chan".into(),
                uid: a
            }
        ]
    );
    let user = s.user(a).expect("arrived");
    assert_eq!(
        (user.nick.as_ref(), user.arrived_ms, user.nick_ms),
        ("Alice", 1000, 1000)
    );
    assert!(user.modes.contains(&'i'));
    assert_eq!(s.uid_by_nick("ALICE"), Some(a));
    assert_eq!(
        s.channels_of(a)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["#Chan"]
    );
    let depart = ops.make(1, 3, depart(a));
    assert_eq!(
        s.apply(&depart),
        Ok(vec![Change::UserDeparted {
            uid: a,
            nick: "Alice".into(),
            user: "u".into(),
            host: "h".into(),
            channels: vec!["#Chan".into()],
            reason: "bye".into(),
        }])
    );
    assert_eq!(s.user_count(), 0);
    assert_eq!(s.channel_count(), 0);
    assert_eq!(s.uid_by_nick("alice"), None);
    assert_eq!(s.channels_of(a).count(), 0);
}

#[test]
fn departure_is_final_even_when_it_arrives_first() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let depart = ops.make(1, 3, depart(a));
    let mut s = state();
    assert!(apply_all(&mut s, &[&depart, &join, &arrive]).is_empty());
    assert_eq!(s.user(a), None);
    assert_eq!(s.channel("#c"), None);
    assert_eq!(s.uid_by_nick("alice"), None);
}

#[test]
fn ops_before_their_user_or_channel_take_effect_when_it_arrives() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let op = ops.make(1, 3, prefix("#c", a, true, vec![], a));
    let away = ops.make(
        1,
        4,
        OpBody::SetAway {
            uid: a,
            away: Some("lunch".into()),
        },
    );
    let topic = ops.make(
        1,
        5,
        OpBody::SetTopic {
            channel: "#c".into(),
            topic: "hi".into(),
            setter: "alice!u@h".into(),
            by: a,
        },
    );
    let mut s = state();
    assert!(apply_all(&mut s, &[&topic, &op, &away, &join]).is_empty());
    assert_eq!(
        s.apply(&arrive),
        Ok(vec![
            Change::UserArrived { uid: a },
            Change::Joined {
                channel: "#c".into(),
                uid: a
            },
            Change::PrefixChanged {
                channel: "#c".into(),
                uid: a,
                mode: 'o',
                on: true
            },
            Change::TopicChanged {
                channel: "#c".into()
            },
        ])
    );
    let channel = s.channel("#C").expect("visible");
    assert_eq!(channel.member(a).map(|p| p.all_symbols()), Some("@".into()));
    assert_eq!(channel.topic().map(|t| t.text.as_str()), Some("hi"));
    assert_eq!(s.user(a).and_then(|u| u.away).as_deref(), Some("lunch"));
}

#[test]
fn duplicates_and_messages_change_nothing() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let message = ops.make(
        1,
        3,
        OpBody::Message {
            msgid: MsgId(7),
            from: a,
            source: "a!u@h".to_owned(),
            target: MessageTarget::Channel("#c".into()),
            kind: MessageKind::Privmsg,
            text: "hello".into(),
            tags: vec![],
        },
    );
    let mut s = state();
    apply_all(&mut s, &[&arrive, &join]);
    let before = s.snapshot();
    assert!(apply_all(&mut s, &[&arrive, &join, &message, &join]).is_empty());
    assert_eq!(s.snapshot(), before);
}

#[test]
fn ops_of_another_tenant_are_refused() {
    let mut ops = Ops::default();
    let mut op = ops.make(1, 1, arrive(uid(1, 1), "alice"));
    op.tenant = TenantId("other".into());
    let mut s = state();
    assert_eq!(
        s.apply(&op),
        Err(ApplyError::WrongTenant {
            op: op.id,
            op_tenant: TenantId("other".into()),
            state_tenant: tenant(),
        })
    );
    assert_eq!(s.user_count(), 0);
}

#[test]
fn earlier_claim_keeps_the_nick_and_the_loser_shows_its_uid() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let first = ops.make(1, 5, arrive(a, "alice"));
    let second = ops.make(2, 6, arrive(b, "ALICE"));
    for order in [[&first, &second], [&second, &first]] {
        let mut s = state();
        apply_all(&mut s, &order);
        assert_eq!(s.user(a).map(|u| u.nick).as_deref(), Some("alice"));
        let loser = s.user(b).expect("arrived");
        assert_eq!(&*loser.nick, "002000001");
        assert_eq!(&*loser.claimed_nick, "ALICE");
        assert_eq!(s.uid_by_nick("Alice"), Some(a));
        assert_eq!(s.uid_by_nick("002000001"), Some(b));
    }
    // Late arrival of the earlier claim: the current holder is renamed first, then it arrives.
    let mut s = state();
    s.apply(&second).expect("same tenant");
    assert_eq!(
        s.apply(&first),
        Ok(vec![
            Change::NickChanged {
                uid: b,
                old: "ALICE".into(),
                new: "002000001".into()
            },
            Change::UserArrived { uid: a },
        ])
    );
}

#[test]
fn when_the_holder_departs_the_remaining_claimant_gets_its_nick() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let first = ops.make(1, 5, arrive(a, "alice"));
    let second = ops.make(2, 6, arrive(b, "Alice"));
    let gone = ops.make(1, 7, depart(a));
    let mut s = state();
    apply_all(&mut s, &[&first, &second]);
    let changes = s.apply(&gone).expect("same tenant");
    assert!(matches!(changes[0], Change::UserDeparted { uid, .. } if uid == a));
    assert_eq!(
        changes[1..],
        [Change::NickChanged {
            uid: b,
            old: "002000001".into(),
            new: "Alice".into()
        }]
    );
    assert_eq!(s.uid_by_nick("alice"), Some(b));
    assert_eq!(s.uid_by_nick("002000001"), None);
}

#[test]
fn nick_change_frees_the_old_nick_for_a_loser_and_case_changes_keep_the_claim() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let first = ops.make(1, 5, arrive(a, "alice"));
    let second = ops.make(2, 6, arrive(b, "alice"));
    let recase = ops.make(
        1,
        7,
        OpBody::NickChange {
            uid: a,
            nick: "ALICE".into(),
        },
    );
    let mut s = state();
    apply_all(&mut s, &[&first, &second]);
    assert_eq!(
        s.apply(&recase),
        Ok(vec![Change::NickChanged {
            uid: a,
            old: "alice".into(),
            new: "ALICE".into()
        }])
    );
    assert_eq!(s.user(a).map(|u| u.nick_ms), Some(5000));
    let rename = ops.make(
        1,
        8,
        OpBody::NickChange {
            uid: a,
            nick: "bob".into(),
        },
    );
    assert_eq!(
        s.apply(&rename),
        Ok(vec![
            Change::NickChanged {
                uid: a,
                old: "ALICE".into(),
                new: "bob".into()
            },
            Change::NickChanged {
                uid: b,
                old: "002000001".into(),
                new: "alice".into()
            },
        ])
    );
}

#[test]
fn concurrent_ban_add_wins_over_remove() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let add = ops.make(1, 3, ban("#c", "*!*@Bad", a));
    // Node 1 removes the ban it saw; node 2, concurrently, adds the same mask again.
    let remove = ops.make(1, 4, unban("#c", "*!*@bad", vec![add.id], a));
    let again = ops.make(2, 4, ban("#c", "*!*@BAD", a));
    for order in [
        [&add, &remove, &again],
        [&again, &remove, &add],
        [&remove, &again, &add],
    ] {
        let mut s = state();
        apply_all(&mut s, &[&arrive, &join]);
        apply_all(&mut s, &order);
        assert_eq!(bans(&s, "#c"), vec!["*!*@BAD"]);
        assert_eq!(s.list_dots("#c", ListKind::Ban, "*!*@bad"), vec![again.id]);
    }
    let mut s = state();
    apply_all(&mut s, &[&arrive, &join, &remove]);
    assert!(apply_all(&mut s, &[&add]).is_empty());
    assert!(bans(&s, "#c").is_empty());
}

#[test]
fn ban_list_changes_and_order() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let later = ops.make(1, 5, ban("#c", "*!*@late", a));
    let earlier = ops.make(2, 4, ban("#c", "*!*@early", a));
    let mut s = state();
    apply_all(&mut s, &[&arrive, &join]);
    assert_eq!(
        apply_all(&mut s, &[&later, &earlier]),
        vec![
            Change::ListChanged {
                channel: "#c".into(),
                kind: ListKind::Ban,
                mask: "*!*@late".into(),
                added: true
            },
            Change::ListChanged {
                channel: "#c".into(),
                kind: ListKind::Ban,
                mask: "*!*@early".into(),
                added: true
            },
        ]
    );
    assert_eq!(bans(&s, "#c"), vec!["*!*@early", "*!*@late"]);
    let entry = s
        .channel("#c")
        .and_then(|c| c.list(ListKind::Ban).next().cloned());
    assert_eq!(
        entry.map(|e| (e.setter, e.set_ms)),
        Some(("op!u@h".into(), 4000))
    );
}

#[test]
fn join_concurrent_with_kick_of_an_earlier_membership_stands() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let arrive_a = ops.make(1, 1, arrive(a, "alice"));
    let arrive_b = ops.make(2, 2, arrive(b, "bob"));
    let join_a = ops.make(1, 3, join("#c", a));
    let join_b = ops.make(2, 4, join("#c", b));
    let kick = ops.make(1, 6, kick("#c", b, vec![join_b.id], a));
    let rejoin = ops.make(2, 6, join("#c", b));
    for order in [[&kick, &rejoin], [&rejoin, &kick]] {
        let mut s = state();
        apply_all(&mut s, &[&arrive_a, &arrive_b, &join_a, &join_b]);
        apply_all(&mut s, &order);
        let channel = s.channel("#c").expect("visible");
        assert!(channel.member(b).is_some());
        assert_eq!(s.member_dots("#c", b), vec![rejoin.id]);
    }
    // Without the concurrent join, the kick removes the member.
    let mut s = state();
    apply_all(&mut s, &[&arrive_a, &arrive_b, &join_a, &join_b]);
    assert_eq!(
        s.apply(&kick),
        Ok(vec![Change::Left {
            channel: "#c".into(),
            uid: b
        }])
    );
    assert!(s.channel("#c").is_some_and(|c| c.member(b).is_none()));
    assert_eq!(s.channels_of(b).count(), 0);
}

#[test]
fn leave_of_an_invisible_member_and_join_of_a_removed_dot_report_nothing() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let arrive = ops.make(1, 1, arrive(a, "alice"));
    let join = ops.make(1, 2, join("#c", a));
    let part = ops.make(
        1,
        3,
        OpBody::Leave {
            channel: "#c".into(),
            uid: a,
            observed: vec![join.id],
            cause: LeaveCause::Part { reason: None },
        },
    );
    let mut s = state();
    apply_all(&mut s, &[&arrive]);
    assert!(s.apply(&part).expect("same tenant").is_empty());
    assert!(s.apply(&join).expect("same tenant").is_empty());
    assert_eq!(s.channel("#c"), None);
}

#[test]
fn operator_status_granted_on_both_sides_survives() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let setup = [
        ops.make(1, 1, arrive(a, "alice")),
        ops.make(2, 2, arrive(b, "bob")),
        ops.make(1, 3, join("#c", a)),
        ops.make(2, 4, join("#c", b)),
    ];
    let op_1 = ops.make(1, 5, prefix("#c", b, true, vec![], a));
    let op_2 = ops.make(2, 5, prefix("#c", b, true, vec![], b));
    let deop_1 = ops.make(1, 6, prefix("#c", b, false, vec![op_1.id], a));
    for order in [[&op_1, &op_2, &deop_1], [&deop_1, &op_2, &op_1]] {
        let mut s = state();
        apply_all(&mut s, &setup.iter().collect::<Vec<_>>());
        apply_all(&mut s, &order);
        assert!(s
            .channel("#c")
            .and_then(|c| c.member(b))
            .is_some_and(|p| p.has('o')));
        assert_eq!(s.prefix_dots("#c", b, 'o'), vec![op_2.id]);
    }
    // A kick removes the membership and the prefixes it observed; a rejoin starts without them.
    let mut s = state();
    apply_all(&mut s, &setup.iter().collect::<Vec<_>>());
    apply_all(&mut s, &[&op_1]);
    let dots = s.member_dots("#c", b);
    assert_eq!(dots, vec![setup[3].id, op_1.id]);
    let kick = ops.make(1, 7, kick("#c", b, dots, a));
    let rejoin = ops.make(2, 8, join("#c", b));
    apply_all(&mut s, &[&kick, &rejoin]);
    assert!(s
        .channel("#c")
        .and_then(|c| c.member(b))
        .is_some_and(|p| p.is_empty()));
}

#[test]
fn reset_hides_old_fields_and_observed_entries_but_keeps_unobserved_joins() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let arrive_a = ops.make(1, 1, arrive(a, "alice"));
    let arrive_b = ops.make(2, 2, arrive(b, "bob"));
    let join_a = ops.make(1, 3, join("#Old", a));
    let op_a = ops.make(1, 4, prefix("#old", a, true, vec![], a));
    let topic = ops.make(
        1,
        5,
        OpBody::SetTopic {
            channel: "#old".into(),
            topic: "old topic".into(),
            setter: "alice!u@h".into(),
            by: a,
        },
    );
    let flag = ops.make(
        1,
        6,
        OpBody::SetChannelFlag {
            channel: "#old".into(),
            mode: 'n',
            on: true,
            by: a,
        },
    );
    let key = ops.make(
        1,
        7,
        OpBody::SetKey {
            channel: "#old".into(),
            key: Some("k".into()),
            by: a,
        },
    );
    let limit = ops.make(
        1,
        8,
        OpBody::SetLimit {
            channel: "#old".into(),
            limit: Some(5),
            by: a,
        },
    );
    let add = ops.make(1, 9, ban("#old", "*!*@x", a));
    // Node 2's user joins concurrently with node 1's user leaving and the reset.
    let join_b = ops.make(2, 10, join("#OLD", b));
    let mut s = state();
    apply_all(
        &mut s,
        &[
            &arrive_a, &arrive_b, &join_a, &op_a, &topic, &flag, &key, &limit, &add,
        ],
    );
    let observed = s.channel_reset_dots("#old");
    assert_eq!(observed, vec![op_a.id, add.id]);
    let part = ops.make(
        1,
        11,
        OpBody::Leave {
            channel: "#old".into(),
            uid: a,
            observed: s.member_dots("#old", a),
            cause: LeaveCause::Part { reason: None },
        },
    );
    let reset = ops.make(
        1,
        12,
        OpBody::ChannelReset {
            channel: "#old".into(),
            observed,
        },
    );
    apply_all(&mut s, &[&part, &reset]);
    assert_eq!(s.channel("#old"), None);
    assert_eq!(
        s.apply(&join_b),
        Ok(vec![Change::Joined {
            channel: "#OLD".into(),
            uid: b
        }])
    );
    let channel = s.channel("#old").expect("visible");
    assert_eq!(
        (
            channel.topic(),
            channel.flags(),
            channel.key(),
            channel.limit()
        ),
        (None, String::new(), None, None)
    );
    assert_eq!(channel.list(ListKind::Ban).count(), 0);
    // The only join above the floor is gone, so the live concurrent join names the channel.
    assert_eq!(
        (channel.name.as_str(), channel.created_ms),
        ("#OLD", 10_000)
    );
    // A field written after the reset is visible.
    let retopic = ops.make(
        2,
        13,
        OpBody::SetTopic {
            channel: "#old".into(),
            topic: "new".into(),
            setter: "bob!u@h".into(),
            by: b,
        },
    );
    apply_all(&mut s, &[&retopic]);
    assert_eq!(
        s.channel("#old")
            .and_then(|c| c.topic())
            .map(|t| t.text.as_str()),
        Some("new")
    );
}

#[test]
fn reset_of_a_visible_channel_reports_what_it_hid() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let setup = [
        ops.make(1, 1, arrive(a, "alice")),
        ops.make(2, 2, arrive(b, "bob")),
        ops.make(1, 3, join("#c", a)),
        ops.make(1, 4, prefix("#c", a, true, vec![], a)),
        ops.make(
            1,
            5,
            OpBody::SetChannelFlag {
                channel: "#c".into(),
                mode: 't',
                on: true,
                by: a,
            },
        ),
        ops.make(1, 6, ban("#c", "*!*@x", a)),
    ];
    let mut s = state();
    apply_all(&mut s, &setup.iter().collect::<Vec<_>>());
    let reset = ops.make(
        2,
        7,
        OpBody::ChannelReset {
            channel: "#c".into(),
            observed: s.channel_reset_dots("#c"),
        },
    );
    assert_eq!(
        s.apply(&reset),
        Ok(vec![
            Change::PrefixChanged {
                channel: "#c".into(),
                uid: a,
                mode: 'o',
                on: false
            },
            Change::ChannelFlagChanged {
                channel: "#c".into(),
                mode: 't',
                on: false
            },
            Change::ListChanged {
                channel: "#c".into(),
                kind: ListKind::Ban,
                mask: "*!*@x".into(),
                added: false
            },
        ])
    );
}

#[test]
fn channel_keeps_the_name_of_its_founding_join() {
    let mut ops = Ops::default();
    let (a, b) = (uid(1, 1), uid(2, 1));
    let arrive_a = ops.make(1, 1, arrive(a, "alice"));
    let arrive_b = ops.make(2, 2, arrive(b, "bob"));
    let join_a = ops.make(1, 3, join("#Foo", a));
    let join_b = ops.make(2, 4, join("#fOO", b));
    let part_a = ops.make(
        1,
        5,
        OpBody::Leave {
            channel: "#foo".into(),
            uid: a,
            observed: vec![join_a.id],
            cause: LeaveCause::Part {
                reason: Some("later".into()),
            },
        },
    );
    for order in [[&join_b, &join_a, &part_a], [&part_a, &join_b, &join_a]] {
        let mut s = state();
        apply_all(&mut s, &[&arrive_a, &arrive_b]);
        apply_all(&mut s, &order);
        let channel = s.channel("#FOO").expect("visible");
        assert_eq!((channel.name.as_str(), channel.created_ms), ("#Foo", 3000));
    }
}

#[test]
fn user_field_changes_are_reported() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let mut s = state();
    apply_all(&mut s, &[&ops.make(1, 1, arrive(a, "alice"))]);
    let changes = apply_all(
        &mut s,
        &[
            &ops.make(
                1,
                2,
                OpBody::SetAway {
                    uid: a,
                    away: Some("gone".into()),
                },
            ),
            &ops.make(
                1,
                3,
                OpBody::SetRealname {
                    uid: a,
                    realname: "Alice A.".into(),
                },
            ),
            &ops.make(
                1,
                4,
                OpBody::SetHost {
                    uid: a,
                    user: "al".into(),
                    host: "vhost".into(),
                },
            ),
            &ops.make(
                1,
                5,
                OpBody::SetAccount {
                    uid: a,
                    account: Some("alice".into()),
                },
            ),
            &ops.make(
                1,
                6,
                OpBody::SetUserMode {
                    uid: a,
                    mode: 'i',
                    on: false,
                },
            ),
            &ops.make(
                1,
                7,
                OpBody::SetUserMode {
                    uid: a,
                    mode: 'i',
                    on: false,
                },
            ),
        ],
    );
    assert_eq!(
        changes,
        vec![
            Change::AwayChanged { uid: a },
            Change::RealnameChanged { uid: a },
            Change::HostChanged {
                uid: a,
                old_user: "u".into(),
                old_host: "h".into()
            },
            Change::AccountChanged { uid: a },
            Change::UserModeChanged {
                uid: a,
                mode: 'i',
                on: false
            },
        ]
    );
    let user = s.user(a).expect("arrived");
    assert_eq!((user.user.as_ref(), user.host.as_ref()), ("al", "vhost"));
    assert!(user.modes.is_empty());
}

#[test]
fn snapshot_serializes_to_json() {
    let mut ops = Ops::default();
    let a = uid(1, 1);
    let mut s = state();
    apply_all(
        &mut s,
        &[
            &ops.make(1, 1, arrive(a, "alice")),
            &ops.make(1, 2, join("#c", a)),
            &ops.make(1, 3, prefix("#c", a, true, vec![], a)),
            &ops.make(1, 4, ban("#c", "*!*@x", a)),
        ],
    );
    let json = serde_json::to_string(&s.snapshot()).expect("serializable");
    let back: crate::snapshot::TenantSnapshot = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, s.snapshot());
    assert!(json.contains("\"prefixes\":\"o\""), "{json}");
}

/// [`TenantState`] as it was derived when it stored each live user's view: snapshots written then
/// must read the same, and new ones be written the same way (see stored.rs).
#[derive(serde::Serialize, serde::Deserialize)]
struct OldStoredForm {
    tenant: TenantId,
    #[serde(with = "crate::casemapping")]
    casemapping: CaseMapping,
    users: rustc_hash::FxHashMap<Uid, crate::user::UserRec>,
    channels: HashMap<String, crate::channel::ChannelRec>,
    user_views: BTreeMap<Uid, Box<UserView>>,
    channel_views: BTreeMap<String, crate::channel::ChannelView>,
    user_channels: rustc_hash::FxHashMap<Uid, BTreeSet<String>>,
    nicks: crate::nick::NickIndex,
}

/// Two users claiming one nick (the later shown with its uid), one in a channel, one gone.
fn stored_state() -> TenantState {
    let mut ops = Ops::default();
    let (a, b, c) = (uid(1, 1), uid(1, 2), uid(1, 3));
    let ops = [
        ops.make(1, 1, arrive(a, "alice")),
        ops.make(1, 2, arrive(b, "Alice")),
        ops.make(1, 3, arrive(c, "carol")),
        ops.make(1, 4, join("#c", a)),
        ops.make(1, 5, depart(c)),
    ];
    let mut s = state();
    apply_all(&mut s, &ops.iter().collect::<Vec<_>>());
    s
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodes")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).expect("decodes");
    assert_eq!(used, bytes.len(), "every byte read");
    value
}

#[test]
fn the_stored_form_still_holds_every_live_users_view() {
    let s = stored_state();
    let old: OldStoredForm = decode(&encode(&s));
    let views: Vec<UserView> = old.user_views.into_values().map(|view| *view).collect();
    assert_eq!(views, s.users().collect::<Vec<_>>());
    assert_eq!(views.len(), 2, "the departed user has no view");
    assert_eq!(
        &*views[1].nick, "001000002",
        "the loser is shown with its uid"
    );
}

#[test]
fn a_state_stored_in_the_old_form_reads_back_the_same() {
    let s = stored_state();
    let old: OldStoredForm = decode(&encode(&s));
    let restored: TenantState = decode(&encode(&old));
    assert_eq!(restored.snapshot(), s.snapshot());
    let again: OldStoredForm = decode(&encode(&restored));
    assert_eq!(
        again.user_views, old.user_views,
        "written again the same way"
    );
}
