//! The node's event log: opening (or quarantining) it, writing every op into it, flushing it on a
//! timer, and rebuilding each tenant from it at start-up (from its newest snapshot and the ops
//! after it; [`crate::snapshots`] writes the snapshots).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use latticed_actors::tenant::{op_kind, Core, CoreSnapshot, Foreign};
use latticed_actors::{Metrics, OpSink, Tenant};
use latticed_crdt::{NodeId, Op, TenantId};
use latticed_eventlog::{CeilingKeeper, Entry, EventLog, LogOptions, Opened};
use prometheus::{
    CounterVec, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};
use tokio_util::sync::CancellationToken;

/// Ops read from the log per batch while rebuilding a tenant.
const RESTORE_BATCH: usize = 10_000;

/// Metrics of the event log.
#[derive(Clone)]
pub struct LogMetrics {
    size_bytes: IntGauge,
    appends: IntCounter,
    append_errors: IntCounter,
    writer_backlog: IntGauge,
    flush_seconds: Histogram,
    commit_waits: IntCounterVec,
    commit_wait_seconds: CounterVec,
    quarantines: IntCounter,
    snapshot_age: GaugeVec,
}

impl LogMetrics {
    /// Register the log's metric families.
    pub fn register(registry: &Registry) -> Result<LogMetrics, prometheus::Error> {
        let m = LogMetrics {
            size_bytes: IntGauge::new("latticed_log_size_bytes", "Event log size on disk")?,
            appends: IntCounter::new(
                "latticed_log_appends_total",
                "Ops newly stored in the event log, this node's and its peers'",
            )?,
            append_errors: IntCounter::new(
                "latticed_log_append_errors_total",
                "Ops the event log failed to store (each is logged)",
            )?,
            writer_backlog: IntGauge::new(
                "latticed_log_writer_backlog",
                "Ops handed to the event log's writer thread and not yet written (read at every \
                 scrape); high and rising: the disk limits how fast the node commits",
            )?,
            flush_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "latticed_log_flush_seconds",
                    "Event log flush (fsync) latency",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )?,
            commit_waits: IntCounterVec::new(
                Opts::new(
                    "latticed_log_commit_waits_total",
                    "Commits that waited for the disk, by cause: writer_backlog (the event log's \
                     writer fell MAX_BACKLOG ops behind), clock_ceiling (the clock ceiling's \
                     fsync fell half a block of stamps behind); rising: the disk holds up clients",
                ),
                &["cause"],
            )?,
            commit_wait_seconds: CounterVec::new(
                Opts::new(
                    "latticed_log_commit_wait_seconds_total",
                    "Time commits spent waiting for the disk, by cause (see \
                     latticed_log_commit_waits_total)",
                ),
                &["cause"],
            )?,
            quarantines: IntCounter::new(
                "latticed_log_quarantines_total",
                "Damaged data directories moved aside at start-up",
            )?,
            snapshot_age: GaugeVec::new(
                Opts::new(
                    "latticed_log_snapshot_age_seconds",
                    "Age of the tenant's newest state snapshot: how much log a restart replays",
                ),
                &["tenant"],
            )?,
        };
        registry.register(Box::new(m.size_bytes.clone()))?;
        registry.register(Box::new(m.appends.clone()))?;
        registry.register(Box::new(m.append_errors.clone()))?;
        registry.register(Box::new(m.writer_backlog.clone()))?;
        registry.register(Box::new(m.flush_seconds.clone()))?;
        registry.register(Box::new(m.commit_waits.clone()))?;
        registry.register(Box::new(m.commit_wait_seconds.clone()))?;
        registry.register(Box::new(m.quarantines.clone()))?;
        registry.register(Box::new(m.snapshot_age.clone()))?;
        Ok(m)
    }

    /// Read what the log's own threads keep: the writer's backlog as it is now, and the append
    /// and commit-wait totals. Called at every scrape, so a disk stuck in the middle of a flush
    /// shows at once, and after every flush.
    pub fn read_live(&self, log: &EventLog) {
        self.writer_backlog.set(log.writer_backlog() as i64);
        self.catch_up_counters(&log.metrics());
    }

    /// Raise the append and commit-wait counters to the log's own totals (the log's threads
    /// count them).
    fn catch_up_counters(&self, totals: &latticed_eventlog::LogMetrics) {
        for (counter, total) in [
            (&self.appends, totals.appends),
            (&self.append_errors, totals.append_errors),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        for (cause, waits) in [
            ("writer_backlog", totals.backlog_waits),
            ("clock_ceiling", totals.ceiling_waits),
        ] {
            let count = self.commit_waits.with_label_values(&[cause]);
            count.inc_by(waits.count.saturating_sub(count.get()));
            let seconds = self.commit_wait_seconds.with_label_values(&[cause]);
            let behind = waits.total.as_secs_f64() - seconds.get();
            if behind > 0.0 {
                seconds.inc_by(behind);
            }
        }
    }

    /// Export how old `tenant`'s newest snapshot is.
    pub(crate) fn set_snapshot_age(&self, tenant: &TenantId, age: Duration) {
        self.snapshot_age
            .with_label_values(&[tenant.0.as_str()])
            .set(age.as_secs_f64());
    }
}

/// Open the log in `config.node.data_dir`; a damaged directory is renamed aside (never deleted)
/// and a fresh log started, so the node comes up and resyncs instead of crashing.
pub fn open(dir: &std::path::Path, metrics: &LogMetrics) -> Result<EventLog> {
    let (log, opened) = EventLog::open_or_quarantine(dir, &LogOptions::default())
        .with_context(|| format!("opening the event log in {}", dir.display()))?;
    if let Opened::Quarantined { moved_to, reason } = opened {
        metrics.quarantines.inc();
        tracing::error!(
            moved_to = %moved_to.display(),
            %reason,
            "event log was damaged: moved aside, starting with an empty log"
        );
    }
    Ok(log)
}

/// Hands every op this node creates to the event log's writer thread and every clock ceiling to
/// the ceiling keeper's (so committing does not wait for the storage engine), and counts ops by
/// kind.
pub struct LogSink {
    /// The log.
    pub log: EventLog,
    /// Persists this node's clock ceilings.
    pub ceilings: CeilingKeeper,
    /// Node metrics (ops by kind).
    pub metrics: Metrics,
}

impl OpSink for LogSink {
    fn record(&self, op: &Op, _seen: &std::collections::BTreeMap<NodeId, u64>) {
        self.metrics.op(&op.tenant.0, op_kind(&op.body));
        self.log.append_behind(Entry::Op(op.clone()));
    }

    fn persist_clock_ceiling(&self, ceiling: u64) {
        self.ceilings.request(ceiling);
    }

    fn await_clock_ceiling(&self, counter: u64) {
        self.ceilings.await_covering(counter);
    }
}

/// Flush the log every `interval` until `stop`, then once more: group commit. Returns when the
/// final flush is done.
pub async fn flush_loop(
    log: EventLog,
    interval: Duration,
    metrics: LogMetrics,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.cancelled() => true,
        };
        let log2 = log.clone();
        let metrics2 = metrics.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = log2.flush();
            metrics2
                .flush_seconds
                .observe(started.elapsed().as_secs_f64());
            if let Ok(size) = log2.size_on_disk() {
                metrics2.size_bytes.set(size as i64);
            }
            metrics2.read_live(&log2);
            result
        })
        .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "event log flush failed"),
            Err(err) => tracing::error!(%err, "event log flush task failed"),
        }
        if stopping {
            return;
        }
    }
}

/// How a tenant's state was rebuilt at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The snapshot the state started from, if one was usable.
    pub snapshot: Option<SnapshotUsed>,
    /// Ops applied from the log on top of it (all of them without a snapshot).
    pub replayed: usize,
}

/// The snapshot a tenant was restored from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotUsed {
    /// How many ops it includes.
    pub ops: u64,
    /// When it was written (Unix milliseconds).
    pub taken_ms: u64,
}

/// Rebuild a tenant's state from the log ([`rebuild`]), restore its clock above anything it may
/// have issued before, and end the sessions of this node's users from before the restart (their
/// connections died with the old process).
pub fn restore(tenant: &Arc<Tenant>, log: &EventLog, node: NodeId) -> Result<Restored> {
    let restored = rebuild(tenant, log)?;
    let mut core = tenant.lock();
    let ceiling = log
        .clock_ceiling(node)
        .context("reading the clock ceiling")?;
    core.restore_clock(ceiling);
    core.end_previous_incarnations();
    Ok(restored)
}

/// Rebuild a tenant's state as the log holds it: from the newest snapshot when there is a usable
/// one, then every op the log holds beyond it. A snapshot that cannot be read or does not fit
/// (another casemapping, ops the log lacks) is skipped with a warning and the whole log replayed,
/// which always gives the same state, only slower.
pub fn rebuild(tenant: &Tenant, log: &EventLog) -> Result<Restored> {
    let mut core = tenant.lock();
    let snapshot = start_from_snapshot(&mut core, &tenant.id, log);
    let replayed = replay_tail(&mut core, &tenant.id, log)?;
    Ok(Restored { snapshot, replayed })
}

/// Load the newest snapshot of `tenant` into a fresh core, if it is usable.
fn start_from_snapshot(core: &mut Core, tenant: &TenantId, log: &EventLog) -> Option<SnapshotUsed> {
    let snapshot = match log.latest_snapshot::<CoreSnapshot>(tenant) {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(%tenant, %err, "state snapshot unreadable; replaying the whole event log");
            return None;
        }
    };
    if let Some((origin, seq)) =
        crate::snapshots::unbacked(&snapshot.vv, &log.version_vector(tenant))
    {
        tracing::warn!(
            %tenant, %origin, seq,
            "state snapshot includes ops the event log lacks; replaying the whole event log"
        );
        return None;
    }
    let ops = crate::snapshots::op_count(&snapshot.vv);
    match core.restore_snapshot(snapshot.state, snapshot.vv) {
        Ok(()) => Some(SnapshotUsed {
            ops,
            taken_ms: snapshot.taken_ms,
        }),
        Err(err) => {
            tracing::warn!(%tenant, %err, "state snapshot unusable; replaying the whole event log");
            None
        }
    }
}

/// Apply every op the log holds beyond what `core` has applied; returns how many were applied.
fn replay_tail(core: &mut Core, tenant: &TenantId, log: &EventLog) -> Result<usize> {
    let mut applied = 0usize;
    loop {
        let vv = core.version_vector().clone();
        let entries = log
            .ops_after(tenant, &vv, RESTORE_BATCH)
            .with_context(|| format!("reading tenant {tenant} from the event log"))?;
        if entries.is_empty() {
            break;
        }
        let mut progressed = false;
        for entry in entries {
            let outcome = match &entry {
                Entry::Op(op) => core.apply_foreign(op, false),
                Entry::Pruned(pruned) => core.apply_pruned(pruned.id, pruned.stamp),
            };
            if let Foreign::Applied(_) = outcome {
                applied += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(applied)
}
