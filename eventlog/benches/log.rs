//! Event log benchmarks: append throughput under the default group-commit policy (a mixed
//! workload one op at a time, and a burst of channel messages one by one against the same burst
//! in one batch, stored as a run), replay speed, and restart time (open + replay).
//!
//! `LATTICED_BENCH_OPS` sets the number of ops in the replayed log (default 100 000):
//!
//! ```text
//! cargo bench -p latticed-eventlog --bench log
//! LATTICED_BENCH_OPS=1000000 cargo bench -p latticed-eventlog --bench log
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use latticed_crdt::{
    LamportClock, MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody, OpId, TenantId, Uid,
};
use latticed_eventlog::{Entry, EventLog, DEFAULT_FLUSH_INTERVAL};

const ORIGINS: u32 = 3;
const USERS_PER_ORIGIN: u64 = 500;
const CHANNELS: u64 = 100;

fn tenant() -> TenantId {
    TenantId("default".into())
}

fn ops_in_log() -> usize {
    std::env::var("LATTICED_BENCH_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// A deterministic workload spread over a few origins: users arrive, join channels, set topics
/// and talk (about half of all ops are messages, as on a real network).
struct Workload {
    clocks: Vec<LamportClock>,
    seqs: Vec<u64>,
    n: u64,
}

impl Workload {
    fn new() -> Self {
        Workload {
            clocks: (1..=ORIGINS)
                .map(|o| LamportClock::new(NodeId(o)))
                .collect(),
            seqs: vec![0; ORIGINS as usize],
            n: 0,
        }
    }

    fn next_op(&mut self) -> Op {
        self.n += 1;
        let n = self.n;
        let o = (n % u64::from(ORIGINS)) as usize;
        let node = NodeId(o as u32 + 1);
        self.seqs[o] += 1;
        let user = Uid {
            node,
            n: (n / u64::from(ORIGINS)) % USERS_PER_ORIGIN,
        };
        let channel = format!("#chan{}", (n * 7) % CHANNELS);
        let wall_ms = 1_700_000_000_000 + n;
        let body = match n % 10 {
            0 => OpBody::UserArrive {
                uid: user,
                nick: format!("user{}_{}", node.0, user.n),
                user: "u".into(),
                host: "example.org".into(),
                realname: "Bench User".into(),
                ip: "127.0.0.1".into(),
                account: None,
                modes: "i".into(),
            },
            1..=3 => OpBody::Join { channel, uid: user },
            4 => OpBody::SetTopic {
                channel,
                topic: format!("topic {n}"),
                setter: "n!u@h".into(),
                by: user,
            },
            _ => OpBody::Message {
                // As a node mints them: a UUIDv7 carrying the message's wall time.
                msgid: MsgId((u128::from(wall_ms) << 80) | u128::from(n)),
                from: user,
                source: "bench!b@h".to_owned(),
                target: MessageTarget::Channel(channel),
                kind: MessageKind::Privmsg,
                text: "a line of chat of an ordinary length for a benchmark".into(),
                tags: vec![],
            },
        };
        Op {
            tenant: tenant(),
            id: OpId {
                origin: node,
                seq: self.seqs[o],
            },
            stamp: self.clocks[o].tick(),
            wall_ms,
            body,
        }
    }
}

fn fill(path: &Path, count: usize) {
    let log = EventLog::open(path).expect("open log");
    let mut workload = Workload::new();
    for _ in 0..count {
        log.append(&workload.next_op()).expect("append");
    }
    log.flush().expect("flush");
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("open log");
    let flusher = log
        .spawn_flusher(DEFAULT_FLUSH_INTERVAL)
        .expect("start flusher");
    let mut workload = Workload::new();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("with_default_flusher", |b| {
        b.iter_batched(
            || workload.next_op(),
            |op| log.append(black_box(&op)).expect("append"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    flusher.shutdown().expect("final flush");
    let m = log.metrics();
    eprintln!(
        "append: {} ops appended, {} flushes, last flush took {:?}",
        m.appends, m.flushes, m.last_flush_latency
    );
}

/// Messages of one origin to one channel, as a busy channel produces them.
struct Burst {
    clock: LamportClock,
    seq: u64,
}

/// Messages per burst: one full run.
const BURST: usize = 64;

impl Burst {
    fn new() -> Self {
        Burst {
            clock: LamportClock::new(NodeId(1)),
            seq: 0,
        }
    }

    fn next(&mut self) -> Vec<Op> {
        (0..BURST)
            .map(|_| {
                self.seq += 1;
                let wall_ms = 1_700_000_000_000 + self.seq / 8;
                Op {
                    tenant: tenant(),
                    id: OpId {
                        origin: NodeId(1),
                        seq: self.seq,
                    },
                    stamp: self.clock.tick(),
                    wall_ms,
                    body: OpBody::Message {
                        msgid: MsgId((u128::from(wall_ms) << 80) | u128::from(self.seq)),
                        from: Uid {
                            node: NodeId(1),
                            n: self.seq % USERS_PER_ORIGIN,
                        },
                        source: "bench!b@h".to_owned(),
                        target: MessageTarget::Channel("#busy".into()),
                        kind: MessageKind::Privmsg,
                        text: "a line of chat of an ordinary length for a benchmark".into(),
                        tags: vec![],
                    },
                }
            })
            .collect()
    }
}

fn message_bursts(c: &mut Criterion) {
    let mut group = c.benchmark_group("message_burst");
    group.throughput(Throughput::Elements(BURST as u64));
    for batched in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EventLog::open(dir.path().join("log")).expect("open log");
        let flusher = log
            .spawn_flusher(DEFAULT_FLUSH_INTERVAL)
            .expect("start flusher");
        let mut burst = Burst::new();
        let name = if batched {
            "in_one_batch"
        } else {
            "one_by_one"
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || burst.next(),
                |ops| {
                    if batched {
                        log.append_batch(ops.into_iter().map(Entry::Op))
                            .expect("append batch");
                    } else {
                        for op in &ops {
                            log.append(black_box(op)).expect("append");
                        }
                    }
                },
                BatchSize::SmallInput,
            )
        });
        flusher.shutdown().expect("final flush");
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    let count = ops_in_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let started = Instant::now();
    fill(&path, count);
    eprintln!("replay: filled {count} ops in {:?}", started.elapsed());

    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(count as u64));
    {
        let log = EventLog::open(&path).expect("open log");
        eprintln!(
            "replay: log of {count} ops is {} bytes on disk",
            log.size_on_disk().expect("size")
        );
        group.bench_function(format!("replay_{count}_ops"), |b| {
            b.iter(|| log.replay(&tenant(), u64::MAX).expect("replay"))
        });
    }
    group.bench_function(format!("open_and_replay_{count}_ops"), |b| {
        b.iter(|| {
            let log = EventLog::open(&path).expect("open log");
            log.replay(&tenant(), u64::MAX).expect("replay")
        })
    });
    group.finish();
}

criterion_group!(benches, appends, message_bursts, replay);
criterion_main!(benches);
