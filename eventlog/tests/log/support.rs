//! Builders of ops for the tests: one op factory per origin node, with its own seq counter and
//! Lamport clock, as a node would create them.

use latticed_crdt::{
    LamportClock, LeaveCause, MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody, OpId,
    TenantId, Uid,
};
use latticed_eventlog::EventLog;

pub fn tenant() -> TenantId {
    TenantId("default".into())
}

pub fn uid(node: u32, n: u64) -> Uid {
    Uid {
        node: NodeId(node),
        n,
    }
}

/// Creates the ops of one origin node.
pub struct Origin {
    pub tenant: TenantId,
    node: NodeId,
    seq: u64,
    clock: LamportClock,
}

impl Origin {
    pub fn new(node: u32) -> Self {
        Origin::for_tenant(tenant(), node)
    }

    pub fn for_tenant(tenant: TenantId, node: u32) -> Self {
        Origin {
            tenant,
            node: NodeId(node),
            seq: 0,
            clock: LamportClock::new(NodeId(node)),
        }
    }

    pub fn op(&mut self, wall_ms: u64, body: OpBody) -> Op {
        self.seq += 1;
        Op {
            tenant: self.tenant.clone(),
            id: OpId {
                origin: self.node,
                seq: self.seq,
            },
            stamp: self.clock.tick(),
            wall_ms,
            body,
        }
    }

    pub fn arrive(&mut self, wall_ms: u64, who: Uid, nick: &str) -> Op {
        self.op(
            wall_ms,
            OpBody::UserArrive {
                uid: who,
                nick: nick.into(),
                user: "u".into(),
                host: "h".into(),
                realname: "r".into(),
                ip: "127.0.0.1".into(),
                account: None,
                modes: "i".into(),
            },
        )
    }

    pub fn join(&mut self, wall_ms: u64, who: Uid, channel: &str) -> Op {
        self.op(
            wall_ms,
            OpBody::Join {
                channel: channel.into(),
                uid: who,
            },
        )
    }

    pub fn part(&mut self, wall_ms: u64, who: Uid, channel: &str, observed: Vec<OpId>) -> Op {
        self.op(
            wall_ms,
            OpBody::Leave {
                channel: channel.into(),
                uid: who,
                observed,
                cause: LeaveCause::Part { reason: None },
            },
        )
    }

    pub fn topic(&mut self, wall_ms: u64, by: Uid, channel: &str, text: &str) -> Op {
        self.op(
            wall_ms,
            OpBody::SetTopic {
                channel: channel.into(),
                topic: text.into(),
                setter: "n!u@h".into(),
                by,
            },
        )
    }

    pub fn say(&mut self, wall_ms: u64, from: Uid, channel: &str, msgid: u128, text: &str) -> Op {
        self.message(
            wall_ms,
            from,
            MessageTarget::Channel(channel.into()),
            msgid,
            text,
        )
    }

    pub fn tell(&mut self, wall_ms: u64, from: Uid, to: Uid, msgid: u128, text: &str) -> Op {
        self.message(wall_ms, from, MessageTarget::User(to), msgid, text)
    }

    fn message(
        &mut self,
        wall_ms: u64,
        from: Uid,
        target: MessageTarget,
        msgid: u128,
        text: &str,
    ) -> Op {
        self.op(
            wall_ms,
            OpBody::Message {
                msgid: MsgId(msgid),
                from,
                source: "sender!u@h".to_owned(),
                target,
                kind: MessageKind::Privmsg,
                text: text.into(),
                tags: vec![],
            },
        )
    }
}

/// A fresh log in a fresh temporary directory (kept alive by the returned guard).
pub fn fresh() -> (tempfile::TempDir, EventLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("open log");
    (dir, log)
}

/// Texts of message ops, to compare query results readably.
pub fn texts(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match &op.body {
            OpBody::Message { text, .. } => text.clone(),
            other => panic!("not a message: {other:?}"),
        })
        .collect()
}

/// Appends every op, asserting each is new.
pub fn append_all(log: &EventLog, ops: &[Op]) {
    for op in ops {
        assert!(log.append(op).expect("append"), "{op:?} was not new");
    }
}
