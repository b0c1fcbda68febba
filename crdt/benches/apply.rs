//! Tenant state benchmarks: applying one op of each common kind to a populated network, and
//! merging two replicas that diverged.
//!
//! The network has 1000 users in 100 channels (each user in 3, so about 30 members a channel),
//! every channel with a topic, an op and two bans. Each op is fresh (its own id and stamp, as
//! every op a node applies is) and changes the network visibly: an arrival adds a user, a join a
//! member, a topic overwrites the last one, a flag flips, a voice is granted, a ban adds a mask
//! (a message changes no state; its apply is the overhead every message op pays). Each op is
//! timed on its own; ops that add something are undone right after, untimed (the user departs,
//! the member parts, the voice and the ban are removed), so the network keeps its size. Removes
//! leave tombstones, so the network is replaced by a fresh copy every [`FRESH_COPY_EVERY`] ops.
//!
//! The merge benchmark gives two copies of the network 1000 ops each (joins, parts, topics,
//! modes, bans and unbans, nick changes that collide across the two sides, arrivals, messages),
//! then applies each side's ops to the other: 2000 ops, after which both show the same network.
//!
//! ```text
//! cargo bench -p latticed-crdt --bench apply
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use latticed_crdt::{
    LamportClock, LeaveCause, ListKind, MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody,
    OpId, TenantId, TenantState, Uid,
};
use latticed_proto::CaseMapping;

const USERS: u64 = 1000;
const CHANNELS: u64 = 100;
/// Channels each user is in.
const JOINS_PER_USER: u64 = 3;
/// Ops applied to one copy of the network before it is replaced by a fresh copy.
const FRESH_COPY_EVERY: u64 = 5000;
/// Ops each replica creates on its own side of the split in the merge benchmark.
const DIVERGENT_OPS: usize = 1000;

fn tenant() -> TenantId {
    TenantId("bench".into())
}

/// A user of the base network.
fn user(i: u64) -> Uid {
    Uid {
        node: NodeId(1),
        n: i % USERS,
    }
}

fn channel(c: u64) -> String {
    format!("#chan{}", c % CHANNELS)
}

/// The `k`-th channel user `i` is in: `7i`, `7i + 13` and `7i + 26` (mod 100).
fn channel_of(i: u64, k: u64) -> String {
    channel(i * 7 + k * 13)
}

/// One node creating ops: its clock and op sequence.
#[derive(Clone)]
struct Origin {
    clock: LamportClock,
    seq: u64,
}

impl Origin {
    fn new(node: u32) -> Origin {
        Origin {
            clock: LamportClock::new(NodeId(node)),
            seq: 0,
        }
    }

    fn op(&mut self, body: OpBody) -> Op {
        self.seq += 1;
        let stamp = self.clock.tick();
        Op {
            tenant: tenant(),
            id: OpId {
                origin: self.clock.node(),
                seq: self.seq,
            },
            stamp,
            wall_ms: 1_700_000_000_000 + self.seq,
            body,
        }
    }

    /// Creates an op and applies it to `state`, the way a node commits its own ops.
    fn commit(&mut self, state: &mut TenantState, body: OpBody) -> Op {
        let op = self.op(body);
        state.apply(&op).expect("op of the benchmark's tenant");
        op
    }
}

fn arrive(uid: Uid, nick: String) -> OpBody {
    OpBody::UserArrive {
        uid,
        nick,
        user: "bench".into(),
        host: "users.example.org".into(),
        realname: "Bench User".into(),
        ip: "192.0.2.1".into(),
        account: None,
        modes: "i".into(),
    }
}

fn message(from: Uid, to: String, n: u64) -> OpBody {
    OpBody::Message {
        msgid: MsgId(u128::from(n)),
        from,
        source: format!("user{}!bench@users.example.org", from.n),
        target: MessageTarget::Channel(to),
        kind: MessageKind::Privmsg,
        text: "a line of chat of an ordinary length for a benchmark".into(),
        tags: vec![],
    }
}

/// The populated network every benchmark starts from, and the clock that built it.
fn base_network() -> (TenantState, Origin) {
    let mut state = TenantState::new(tenant(), CaseMapping::Rfc1459);
    let mut origin = Origin::new(1);
    for i in 0..USERS {
        origin.commit(&mut state, arrive(user(i), format!("user{i}")));
    }
    for i in 0..USERS {
        for k in 0..JOINS_PER_USER {
            let body = OpBody::Join {
                channel: channel_of(i, k),
                uid: user(i),
            };
            origin.commit(&mut state, body);
        }
    }
    for c in 0..CHANNELS {
        let founder = state
            .channel(&channel(c))
            .and_then(|chan| chan.members().next().map(|(uid, _)| uid))
            .expect("every channel has members");
        let bodies = [
            OpBody::SetPrefix {
                channel: channel(c),
                uid: founder,
                mode: 'o',
                on: true,
                observed: vec![],
                by: founder,
            },
            OpBody::SetTopic {
                channel: channel(c),
                topic: format!("welcome to channel {c}"),
                setter: format!("user{}!bench@users.example.org", founder.n),
                by: founder,
            },
            ban(c, founder, format!("*!*@spam{c}.example.net")),
            ban(c, founder, format!("troll{c}!*@*")),
        ];
        for body in bodies {
            origin.commit(&mut state, body);
        }
    }
    assert_eq!(state.user_count() as u64, USERS);
    assert_eq!(state.channel_count() as u64, CHANNELS);
    (state, origin)
}

fn ban(c: u64, by: Uid, mask: String) -> OpBody {
    OpBody::ListAdd {
        channel: channel(c),
        kind: ListKind::Ban,
        mask,
        setter: format!("user{}!bench@users.example.org", by.n),
        by,
    }
}

/// One kind of op to time: `make(n)` is the `n`-th op of the kind, and `undo(state, n)`, when
/// the op adds something, the op that takes it away again (applied untimed right after), so the
/// network keeps its size however many ops are timed.
struct Kind {
    name: &'static str,
    make: fn(u64) -> OpBody,
    undo: Option<fn(&TenantState, u64) -> OpBody>,
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "user_arrive",
            make: |n| arrive(guest(n), format!("guest{n}")),
            undo: Some(|_, n| OpBody::UserDepart {
                uid: guest(n),
                reason: "Quit: bye".into(),
            }),
        },
        Kind {
            name: "join",
            // 7i + 50 is none of user i's three channels: every join is a new membership.
            make: |n| OpBody::Join {
                channel: channel(n * 7 + 50),
                uid: user(n),
            },
            undo: Some(|state, n| {
                let chan = channel(n * 7 + 50);
                OpBody::Leave {
                    observed: state.member_dots(&chan, user(n)),
                    channel: chan,
                    uid: user(n),
                    cause: LeaveCause::Part { reason: None },
                }
            }),
        },
        Kind {
            name: "set_topic",
            make: |n| OpBody::SetTopic {
                channel: channel_of(n, 0),
                topic: format!("topic number {n}, see https://example.org/news"),
                setter: format!("user{}!bench@users.example.org", n % USERS),
                by: user(n),
            },
            undo: None,
        },
        Kind {
            name: "set_channel_flag",
            // Channel 7n (mod 100) comes back every 100 ops, and then its flag flips.
            make: |n| OpBody::SetChannelFlag {
                channel: channel_of(n, 0),
                mode: if n.is_multiple_of(2) { 'm' } else { 't' },
                on: (n / CHANNELS).is_multiple_of(2),
                by: user(n),
            },
            undo: None,
        },
        Kind {
            name: "set_prefix_voice",
            make: |n| OpBody::SetPrefix {
                channel: channel_of(n, 1),
                uid: user(n),
                mode: 'v',
                on: true,
                observed: vec![],
                by: user(n + 1),
            },
            undo: Some(|state, n| {
                let chan = channel_of(n, 1);
                OpBody::SetPrefix {
                    observed: state.prefix_dots(&chan, user(n), 'v'),
                    channel: chan,
                    uid: user(n),
                    mode: 'v',
                    on: false,
                    by: user(n + 1),
                }
            }),
        },
        Kind {
            name: "ban_add",
            make: |n| ban(n, user(n), ban_mask(n)),
            undo: Some(|state, n| OpBody::ListRemove {
                channel: channel(n),
                kind: ListKind::Ban,
                observed: state.list_dots(&channel(n), ListKind::Ban, &ban_mask(n)),
                mask: ban_mask(n),
                by: user(n),
            }),
        },
        Kind {
            name: "message",
            make: |n| message(user(n), channel_of(n, 2), n),
            undo: None,
        },
    ]
}

/// A user arriving from another node during the benchmark.
fn guest(n: u64) -> Uid {
    Uid { node: NodeId(2), n }
}

fn ban_mask(n: u64) -> String {
    format!("*!*@host{n}.example.net")
}

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times each op of `kind` on its own, undoing it untimed, on a copy of `base` that is replaced
/// by a fresh one every [`FRESH_COPY_EVERY`] ops (removes leave tombstones behind).
fn bench_kind(group: &mut Group<'_>, kind: &Kind, base: &TenantState, mut origin: Origin) {
    group.bench_function(kind.name, |b| {
        b.iter_custom(|iters| {
            let mut state = base.clone();
            let mut timed = Duration::ZERO;
            for n in 0..iters {
                if n > 0 && n.is_multiple_of(FRESH_COPY_EVERY) {
                    state = base.clone();
                }
                let op = origin.op((kind.make)(n));
                let start = Instant::now();
                black_box(
                    state
                        .apply(black_box(&op))
                        .expect("op of the benchmark's tenant"),
                );
                timed += start.elapsed();
                if let Some(undo) = kind.undo {
                    let undo = origin.op(undo(&state, n));
                    state.apply(&undo).expect("op of the benchmark's tenant");
                }
            }
            timed
        })
    });
}

/// Checks that the first ops of `kind` change the network visibly, each after the last was
/// undone: the benchmark times real work, not ops that find nothing to do.
fn check_kind(kind: &Kind, base: &TenantState, mut origin: Origin) {
    let mut state = base.clone();
    for n in 0..2 * CHANNELS {
        let changes = state
            .apply(&origin.op((kind.make)(n)))
            .expect("op of the benchmark's tenant");
        assert!(
            kind.name == "message" || !changes.is_empty(),
            "{} op {n} changes nothing visible",
            kind.name
        );
        if let Some(undo) = kind.undo {
            let undo = origin.op(undo(&state, n));
            let undone = state.apply(&undo).expect("op of the benchmark's tenant");
            assert!(!undone.is_empty(), "{} op {n} is not undone", kind.name);
        }
    }
    assert_eq!(state.user_count() as u64, USERS);
    assert_eq!(state.channel_count() as u64, CHANNELS);
}

fn apply_ops(c: &mut Criterion) {
    let (base, origin) = base_network();
    let started = Instant::now();
    let copy = black_box(base.clone());
    eprintln!(
        "apply: base network of {} users in {} channels, copied (untimed) in {:?}",
        copy.user_count(),
        copy.channel_count(),
        started.elapsed()
    );
    let mut group = c.benchmark_group("apply");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    for kind in kinds() {
        check_kind(&kind, &base, origin.clone());
        bench_kind(&mut group, &kind, &base, origin.clone());
    }
    group.finish();
}

/// One replica on its side of a split, creating ops from what it sees.
struct Side {
    state: TenantState,
    origin: Origin,
    /// Node id of the users this side brings in.
    node: u32,
    ops: Vec<Op>,
}

impl Side {
    fn new(base: &TenantState, base_clock: &LamportClock, node: u32) -> Side {
        let mut origin = Origin::new(node);
        origin.clock.observe(latticed_crdt::Stamp {
            counter: base_clock.current(),
            node: base_clock.node(),
        });
        Side {
            state: base.clone(),
            origin,
            node,
            ops: Vec::with_capacity(DIVERGENT_OPS),
        }
    }

    /// The `n`-th op of this side's mix; both sides use the same mix over different users, and
    /// claim the same new nicks, so nick collisions and concurrent list edits happen.
    fn body(&self, n: u64) -> OpBody {
        let side = u64::from(self.node);
        let i = n * 3 + side * 500;
        let by = user(i);
        match n % 20 {
            0..=3 => OpBody::Join {
                channel: channel(i * 7 + 50),
                uid: user(i),
            },
            4 | 5 => {
                let chan = channel_of(i + 1, 1);
                let uid = user(i + 1);
                OpBody::Leave {
                    observed: self.state.member_dots(&chan, uid),
                    channel: chan,
                    uid,
                    cause: LeaveCause::Part { reason: None },
                }
            }
            6 | 7 => OpBody::SetTopic {
                channel: channel(n),
                topic: format!("side {side} topic {n}"),
                setter: format!("user{}!bench@users.example.org", by.n),
                by,
            },
            8 => OpBody::SetPrefix {
                channel: channel_of(i, 0),
                uid: user(i),
                mode: 'o',
                on: true,
                observed: vec![],
                by,
            },
            // One side sets +t where the other unsets it.
            9 => OpBody::SetChannelFlag {
                channel: channel(n),
                mode: 't',
                on: side.is_multiple_of(2),
                by,
            },
            10 => ban(n, by, format!("*!*@split{n}.example.net")),
            11 => {
                let c = n % CHANNELS;
                let mask = format!("*!*@spam{c}.example.net");
                OpBody::ListRemove {
                    observed: self.state.list_dots(&channel(c), ListKind::Ban, &mask),
                    channel: channel(c),
                    kind: ListKind::Ban,
                    mask,
                    by,
                }
            }
            12 => OpBody::NickChange {
                uid: user(i + 2),
                nick: format!("taken{n}"),
            },
            13 => arrive(
                Uid {
                    node: NodeId(self.node),
                    n,
                },
                format!("newcomer{n}"),
            ),
            _ => message(by, channel_of(i, 0), (side << 32) | n),
        }
    }

    /// Creates and applies this side's divergent ops.
    fn diverge(mut self) -> Side {
        for n in 0..DIVERGENT_OPS as u64 {
            let body = self.body(n);
            let op = self.origin.commit(&mut self.state, body);
            self.ops.push(op);
        }
        self
    }
}

fn merge(c: &mut Criterion) {
    let (base, origin) = base_network();
    let a = Side::new(&base, &origin.clock, 11).diverge();
    let b = Side::new(&base, &origin.clock, 12).diverge();

    let merged = |mut a_state: TenantState, mut b_state: TenantState| {
        for op in &b.ops {
            black_box(a_state.apply(op).expect("op of the benchmark's tenant"));
        }
        for op in &a.ops {
            black_box(b_state.apply(op).expect("op of the benchmark's tenant"));
        }
        (a_state, b_state)
    };
    let (a_merged, b_merged) = merged(a.state.clone(), b.state.clone());
    assert_ne!(a.state.snapshot(), b.state.snapshot(), "the sides diverged");
    assert_eq!(
        a_merged.snapshot(),
        b_merged.snapshot(),
        "both sides converge"
    );

    let mut group = c.benchmark_group("merge");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(2 * DIVERGENT_OPS as u64));
    group.bench_function("two_replicas_1000_divergent_ops_each", |bencher| {
        bencher.iter_batched(
            || (a.state.clone(), b.state.clone()),
            |(a_state, b_state)| merged(a_state, b_state),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, apply_ops, merge);
criterion_main!(benches);
