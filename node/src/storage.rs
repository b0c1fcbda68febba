//! The node's event log: opening (or quarantining) it, writing every op into it, flushing it on a
//! timer, and rebuilding each tenant from it at start-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use latticed_actors::tenant::{op_kind, Foreign, Outbox};
use latticed_actors::{Metrics, OpSink, Tenant};
use latticed_crdt::{NodeId, Op, OpBody};
use latticed_eventlog::{Entry, EventLog, LogOptions, Opened};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use tokio_util::sync::CancellationToken;

/// Ops read from the log per batch while rebuilding a tenant.
const RESTORE_BATCH: usize = 10_000;

/// Metrics of the event log.
#[derive(Clone)]
pub struct LogMetrics {
    size_bytes: IntGauge,
    appends: IntCounter,
    append_errors: IntCounter,
    flush_seconds: Histogram,
    quarantines: IntCounter,
}

impl LogMetrics {
    /// Register the log's metric families.
    pub fn register(registry: &Registry) -> Result<LogMetrics, prometheus::Error> {
        let m = LogMetrics {
            size_bytes: IntGauge::new("latticed_log_size_bytes", "Event log size on disk")?,
            appends: IntCounter::new(
                "latticed_log_appends_total",
                "Ops appended to the event log",
            )?,
            append_errors: IntCounter::new(
                "latticed_log_append_errors_total",
                "Ops the event log failed to store",
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
            quarantines: IntCounter::new(
                "latticed_log_quarantines_total",
                "Damaged data directories moved aside at start-up",
            )?,
        };
        registry.register(Box::new(m.size_bytes.clone()))?;
        registry.register(Box::new(m.appends.clone()))?;
        registry.register(Box::new(m.append_errors.clone()))?;
        registry.register(Box::new(m.flush_seconds.clone()))?;
        registry.register(Box::new(m.quarantines.clone()))?;
        Ok(m)
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

/// Writes every op this node creates into the log and counts it.
pub struct LogSink {
    /// The log.
    pub log: EventLog,
    /// This node.
    pub node: NodeId,
    /// Node metrics (ops by kind).
    pub metrics: Metrics,
    /// Log metrics.
    pub log_metrics: LogMetrics,
}

impl OpSink for LogSink {
    fn record(&self, op: &Op) {
        self.metrics.op(&op.tenant.0, op_kind(&op.body));
        match self.log.append(op) {
            Ok(_) => self.log_metrics.appends.inc(),
            Err(err) => {
                self.log_metrics.append_errors.inc();
                tracing::error!(%err, op = ?op.id, "event log append failed");
            }
        }
    }

    fn persist_clock_ceiling(&self, ceiling: u64) {
        if let Err(err) = self.log.persist_clock_ceiling(self.node, ceiling) {
            tracing::error!(%err, ceiling, "persisting the clock ceiling failed");
        }
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

/// Rebuild a tenant's state from every op the log holds for it, restore its clock above anything
/// it may have issued before, and end the sessions of this node's users from before the restart
/// (their connections died with the old process).
pub fn restore(tenant: &Arc<Tenant>, log: &EventLog, node: NodeId) -> Result<usize> {
    let mut core = tenant.lock();
    let mut applied = 0usize;
    loop {
        let vv = core.version_vector().clone();
        let entries = log
            .ops_after(&tenant.id, &vv, RESTORE_BATCH)
            .with_context(|| format!("reading tenant {} from the event log", tenant.id))?;
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
    let ceiling = log
        .clock_ceiling(node)
        .context("reading the clock ceiling")?;
    core.restore_clock(ceiling);
    let stale: Vec<_> = core
        .state
        .users()
        .filter(|u| u.uid.node == node)
        .map(|u| u.uid)
        .collect();
    for uid in stale {
        let mut outbox = Outbox::new(None);
        core.commit(
            OpBody::UserDepart {
                uid,
                reason: "Server restarted".to_owned(),
            },
            &mut outbox,
        );
    }
    Ok(applied)
}
