//! History retention: message bodies older than a tenant's `history.retention_days` are pruned
//! from the event log (state ops never are: they are what every node's state is rebuilt from).

use std::sync::Arc;
use std::time::Duration;

use latticed_actors::Tenant;
use latticed_eventlog::EventLog;
use tokio_util::sync::CancellationToken;

/// How often retention runs; the first pass is one interval after start.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Prune every tenant's history on a timer until `stop`.
pub async fn prune_loop(
    log: EventLog,
    tenants: Vec<Arc<Tenant>>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for tenant in &tenants {
            let days = u64::from(tenant.config().history.retention_days);
            let cutoff = latticed_actors::time::unix_now_ms().saturating_sub(days * 86_400_000);
            let (log, id) = (log.clone(), tenant.id.clone());
            match tokio::task::spawn_blocking(move || log.prune_history(&id, cutoff)).await {
                Ok(Ok(pruned)) if pruned > 0 => {
                    tracing::info!(tenant = %tenant.id, pruned, days, "pruned message history")
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::error!(tenant = %tenant.id, %err, "history pruning failed")
                }
                Err(err) => tracing::error!(%err, "history pruning task failed"),
            }
        }
    }
}
