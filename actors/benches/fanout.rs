//! The hot path of a channel message: `Core::commit` of one PRIVMSG to a channel whose N members
//! (N = 10, 100, 1000) are all connected to this node.
//!
//! One commit creates the op (stamp, sequence), applies it through the CRDT, hands it to the op
//! sink, serialises the line once per capability variant and queues it on every member's real
//! [`Outbound`]. Members rotate through three capability sets (none; `server-time`;
//! `message-tags` + `echo-message`), so three variants are built per message. The sender has
//! `echo-message`, so each commit produces N lines: N - 1 deliveries and the echo.
//!
//! Every connection's writer task runs on a one-thread tokio runtime, as on a node, draining its
//! queue into a byte counter instead of a socket. Each commit is timed on its own; between
//! commits, untimed, the benchmark waits for the writers whenever a queue holds more than a
//! quarter of its limit, so queues never fill. It checks afterwards that no connection hit its
//! send queue limit and that the writers wrote the lines.
//! The op sink is a counter: it stands in for the event log and the cluster link, so the
//! benchmark measures the in-memory path (the event log has its own benchmark).
//!
//! ```text
//! cargo bench -p latticed-actors --bench fanout
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use latticed_actors::caps::Caps;
use latticed_actors::outbound::{CloseReason, Outbound};
use latticed_actors::tenant::{LocalUser, Outbox};
use latticed_actors::{Metrics, NodeInfo, OpSink, Tenant};
use latticed_config::TenantConfig;
use latticed_crdt::{MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody, Uid};
use latticed_eventlog::EventLog;
use tokio::io::AsyncWrite;
use tokio::runtime::Runtime;

const CHANNEL: &str = "#fanout";
/// Every connection's queue is looked at at least once in this many messages (see
/// [`Network::hold_back`]): at about 150 bytes a message, far less than the queue can hold.
const PROBES_PER_CONNECTION_CYCLE: usize = 100;
const TEXT: &str = "a line of chat of an ordinary length, sent to everyone in the channel";

/// Counts what the tenant records instead of logging and shipping it: a stand-in for the event
/// log and the cluster link, so the benchmark measures only the in-memory path.
#[derive(Default)]
struct CountingSink {
    ops: AtomicU64,
    ceilings: AtomicU64,
}

impl OpSink for CountingSink {
    fn record(&self, _op: &Op, _seen: &BTreeMap<NodeId, u64>) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    fn persist_clock_ceiling(&self, _ceiling: u64) {
        self.ceilings.fetch_add(1, Ordering::Relaxed);
    }
}

/// The socket side of a connection's writer: counts the bytes written and drops them.
struct CountingSocket(Arc<AtomicU64>);

impl AsyncWrite for CountingSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|buf| buf.len()).sum();
        self.0.fetch_add(len as u64, Ordering::Relaxed);
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The capability set of the `i`-th member.
fn caps_of(i: usize) -> Caps {
    match i % 3 {
        0 => Caps(Caps::MESSAGE_TAGS.0 | Caps::ECHO_MESSAGE.0),
        1 => Caps::default(),
        _ => Caps::SERVER_TIME,
    }
}

/// A tenant with `members` local users in [`CHANNEL`], each with a drained connection.
struct Network {
    tenant: Tenant,
    sink: Arc<CountingSink>,
    connections: Vec<Outbound>,
    written: Arc<AtomicU64>,
    sender: Uid,
    sender_mask: String,
    /// Queued bytes on one connection above which the benchmark lets the writers catch up.
    backlog_limit: usize,
    /// Holds the event log's directory for as long as the tenant uses it.
    _dir: tempfile::TempDir,
}

impl Network {
    fn new(runtime: &Runtime, members: usize) -> Network {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EventLog::open(dir.path().join("log")).expect("open event log");
        let config = TenantConfig {
            name: "bench".into(),
            ..TenantConfig::default()
        };
        let sendq = config.connection.sendq_bytes;
        let metrics = Metrics::register(&prometheus::Registry::new()).expect("metrics");
        let node = NodeInfo {
            id: NodeId(1),
            server_name: "irc.bench.example".into(),
            description: "fan-out benchmark".into(),
            version: "bench".into(),
            started: "now".into(),
            peers: BTreeMap::new(),
            epoch: 1,
        };
        let sink = Arc::new(CountingSink::default());
        let tenant = Tenant::new(
            Arc::new(config),
            node,
            metrics.for_tenant("bench"),
            sink.clone(),
            log,
            None,
        );
        let written = Arc::new(AtomicU64::new(0));
        let mut connections = Vec::with_capacity(members);
        let mut first = None;
        {
            let mut core = tenant.lock();
            for i in 0..members {
                let uid = core.allocate_uid();
                let (out, writer) = Outbound::new(sendq);
                runtime.spawn(writer.run(CountingSocket(written.clone())));
                core.local.insert(
                    uid,
                    LocalUser {
                        out: out.clone(),
                        caps: caps_of(i),
                        oper: None,
                        signon: 0,
                        last_active: Instant::now(),
                        tls: false,
                    },
                );
                let mut outbox = Outbox::new(Some(uid));
                core.commit(
                    OpBody::UserArrive {
                        uid,
                        nick: format!("member{i}"),
                        user: "bench".into(),
                        host: "users.example.org".into(),
                        realname: "Fan-out Bench".into(),
                        ip: "192.0.2.1".into(),
                        account: None,
                        modes: String::new(),
                    },
                    &mut outbox,
                );
                core.commit(
                    OpBody::Join {
                        channel: CHANNEL.into(),
                        uid,
                    },
                    &mut outbox,
                );
                connections.push(out);
                first.get_or_insert(uid);
            }
        }
        let sender = first.expect("at least one member");
        let sender_mask = tenant.lock().mask_of(sender).expect("sender is a user");
        let network = Network {
            tenant,
            sink,
            connections,
            written,
            sender,
            sender_mask,
            backlog_limit: sendq / 4,
            _dir: dir,
        };
        network.wait_drained();
        network
    }

    /// Waits until every writer has written everything queued so far.
    fn wait_drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.connections.iter().any(|c| c.queued_bytes() > 0) {
            assert!(Instant::now() < deadline, "writers stopped draining");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Untimed, after the `n`-th message: if the writers have fallen behind (the machine's other
    /// work can starve their thread for a while), waits until they have caught up, so no queue
    /// reaches its limit. Looks at a few connections per message, each in turn.
    fn hold_back(&self, n: u64) {
        let count = self.connections.len();
        let per_message = count.div_ceil(PROBES_PER_CONNECTION_CYCLE);
        let first = (n as usize * per_message) % count;
        let behind = (first..first + per_message)
            .any(|i| self.connections[i % count].queued_bytes() > self.backlog_limit);
        if behind {
            self.wait_drained();
        }
    }

    /// Waits until the writers have written at least `bytes` in all.
    fn wait_written(&self, bytes: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.written.load(Ordering::Relaxed) < bytes {
            assert!(Instant::now() < deadline, "writers stopped writing");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The body of a message, as the PRIVMSG handler builds it.
    fn message(&self) -> OpBody {
        OpBody::Message {
            msgid: MsgId(uuid::Uuid::now_v7().as_u128()),
            from: self.sender,
            source: self.sender_mask.clone(),
            target: MessageTarget::Channel(CHANNEL.into()),
            kind: MessageKind::Privmsg,
            text: TEXT.into(),
            tags: vec![],
        }
    }

    /// One message to the channel, as the sender's PRIVMSG handler commits it.
    fn send(&self, outbox: &mut Outbox) {
        outbox.lines.clear();
        let body = self.message();
        let mut core = self.tenant.lock();
        black_box(core.commit(body, outbox));
    }

    /// Ends every connection so its writer task finishes.
    fn close(self) {
        for out in &self.connections {
            out.close(
                CloseReason::Server("benchmark over".into()),
                "benchmark over",
            );
        }
    }
}

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("channel_message_commit");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for members in [10usize, 100, 1000] {
        let network = Network::new(&runtime, members);
        let mut outbox = Outbox::new(Some(network.sender));

        let ops_before = network.sink.ops.load(Ordering::Relaxed);
        let written_before = network.written.load(Ordering::Relaxed);
        network.send(&mut outbox);
        assert_eq!(outbox.lines.len(), 1, "the sender gets its echo");
        assert_eq!(network.sink.ops.load(Ordering::Relaxed), ops_before + 1);
        // Every other member is written the line, which holds at least the text.
        network.wait_written(written_before + (members as u64 - 1) * TEXT.len() as u64);

        let mut n = 0;
        group.throughput(Throughput::Elements(members as u64));
        group.bench_function(BenchmarkId::from_parameter(members), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let start = Instant::now();
                    network.send(&mut outbox);
                    timed += start.elapsed();
                    network.hold_back(n);
                }
                timed
            })
        });
        network.wait_drained();
        eprintln!(
            "fanout {members}: {} ops recorded, {} clock ceilings persisted, {} bytes written",
            network.sink.ops.load(Ordering::Relaxed),
            network.sink.ceilings.load(Ordering::Relaxed),
            network.written.load(Ordering::Relaxed)
        );
        assert!(
            network
                .connections
                .iter()
                .all(|out| out.close_reason().is_none()),
            "a connection hit its send queue limit: the writers did not keep up"
        );
        network.close();
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
