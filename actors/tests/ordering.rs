//! What a tenant core hands out for ordering, and when. Clock ceilings: it asks its sink for
//! them ahead of need and waits, before using a stamp, only for a ceiling that covers it, so every
//! commit has half a block of counters already asked for and a sink persisting in the background
//! keeps the disk off the commit path. Message ids: each sorts after every message the core has
//! applied, a peer's included, so history order respects what a sender could have read even
//! within one millisecond (UUIDv7s of two nodes in the same millisecond otherwise order at
//! random).

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use latticed_actors::tenant::Foreign;
use latticed_actors::{OpSink, Tenant};
use latticed_config::TenantConfig;
use latticed_crdt::{
    MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody, OpId, Stamp, TenantId, Uid,
    CEILING_BLOCK, RESERVE_AHEAD,
};
use latticed_eventlog::EventLog;

use support::arrive;

/// What the core asked of its sink, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Persist(u64),
    Await(u64),
    Record(u64),
}

#[derive(Default)]
struct RecordingSink(Mutex<Vec<Call>>);

impl OpSink for RecordingSink {
    fn record(&self, op: &Op, _seen: &BTreeMap<NodeId, u64>) {
        self.0.lock().unwrap().push(Call::Record(op.stamp.counter));
    }

    fn persist_clock_ceiling(&self, ceiling: u64) {
        self.0.lock().unwrap().push(Call::Persist(ceiling));
    }

    fn await_clock_ceiling(&self, counter: u64) {
        self.0.lock().unwrap().push(Call::Await(counter));
    }
}

fn tenant(sink: Arc<RecordingSink>, log: &EventLog) -> Tenant {
    support::tenant(TenantConfig::default(), sink, log)
}

/// Op `seq` of node 2, stamped with `counter`.
fn peer_op(seq: u64, counter: u64, body: OpBody) -> Op {
    Op {
        tenant: TenantId("default".into()),
        id: OpId {
            origin: NodeId(2),
            seq,
        },
        stamp: Stamp {
            counter,
            node: NodeId(2),
        },
        wall_ms: 1,
        body,
    }
}

#[test]
fn every_commit_has_half_a_block_asked_for_and_waits_only_for_its_own_stamp() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log");
    let sink = Arc::new(RecordingSink::default());
    let tenant = tenant(sink.clone(), &log);
    let mut core = tenant.lock();
    let alice = core.allocate_uid();
    core.commit_quiet(arrive(alice, "alice"));
    let commits = CEILING_BLOCK + RESERVE_AHEAD;
    for i in 0..commits {
        core.commit_quiet(OpBody::SetAway {
            uid: alice,
            away: (i % 2 == 0).then(|| "away".into()),
        });
    }
    drop(core);
    let calls = sink.0.lock().unwrap().clone();
    let mut asked = 0;
    let mut awaited = 0;
    let mut persists = 0;
    for call in calls {
        match call {
            Call::Persist(ceiling) => {
                assert!(ceiling > asked, "ceilings asked for only grow");
                asked = ceiling;
                persists += 1;
            }
            Call::Await(counter) => {
                assert!(
                    asked >= counter + RESERVE_AHEAD - 1,
                    "stamp {counter} with only up to {asked} asked for"
                );
                awaited = counter;
            }
            Call::Record(counter) => {
                assert_eq!(
                    counter, awaited,
                    "an op was recorded before its stamp was awaited"
                );
            }
        }
    }
    assert_eq!(awaited, commits + 1);
    assert_eq!(
        persists,
        1 + awaited / RESERVE_AHEAD,
        "one ceiling for the new clock, then one every half block"
    );
}

#[test]
fn a_peer_stamp_far_ahead_sends_a_ceiling_above_it_to_the_disk_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log");
    let sink = Arc::new(RecordingSink::default());
    let tenant = tenant(sink.clone(), &log);
    let mut core = tenant.lock();
    let far = peer_op(
        1,
        1_000_000,
        arrive(
            Uid {
                node: NodeId(2),
                n: 1,
            },
            "far",
        ),
    );
    assert!(matches!(
        core.apply_foreign(&far, false),
        Foreign::Applied(_)
    ));
    drop(core);
    let calls = sink.0.lock().unwrap().clone();
    assert_eq!(calls, vec![Call::Persist(1_000_000 + CEILING_BLOCK - 1)]);
}

#[test]
fn an_id_minted_after_a_peer_message_of_the_same_millisecond_sorts_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log");
    let tenant = tenant(Arc::new(RecordingSink::default()), &log);
    let mut core = tenant.lock();
    let carol = Uid {
        node: NodeId(2),
        n: 1,
    };
    assert!(matches!(
        core.apply_foreign(&peer_op(1, 1, arrive(carol, "carol")), false),
        Foreign::Applied(_)
    ));
    // The peer's id: its clock 50 ms ahead of this node's (well within MSGID_FOLLOW_MS), so an
    // id made here from this node's clock alone would sort below it.
    let now_ms = MsgId(uuid::Uuid::now_v7().as_u128()).time_ms();
    let peers = MsgId((u128::from(((now_ms + 50) << 16) | 0x7fff) << 64) | 12_345);
    let message = OpBody::Message {
        msgid: peers,
        from: carol,
        source: "carol!u@h".into(),
        target: MessageTarget::User(carol),
        kind: MessageKind::Privmsg,
        text: "first".into(),
        tags: Vec::new(),
    };
    assert!(matches!(
        core.apply_foreign(&peer_op(2, 2, message), false),
        Foreign::Applied(_)
    ));
    let mine = core.mint_msgid();
    assert!(mine > peers, "{mine} does not sort after {peers}");
    assert!(core.mint_msgid() > mine, "ids minted here keep increasing");
}
