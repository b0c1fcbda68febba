//! The admin listener: Prometheus `/metrics`, `/healthz` and `/readyz` for monitoring, and the
//! operator API `/admin/events` and `/admin/replay` behind a bearer token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    /// The node's metric registry.
    pub registry: Registry,
    /// Set once every client listener is bound.
    pub ready: Arc<AtomicBool>,
    /// The node's event log, for /admin/* and its live metrics.
    pub log: latticed_eventlog::EventLog,
    /// The event log's metrics, read from the log at every scrape.
    pub log_metrics: crate::storage::LogMetrics,
    /// Bearer token for /admin/*; without one, /admin/* is refused.
    pub token: Option<String>,
    /// The cluster links and their metrics, refreshed on every scrape.
    pub cluster: Option<(
        latticed_cluster::ClusterHandle<crate::replication::ReplFrame>,
        crate::cluster_metrics::ReplMetrics,
    )>,
}

/// The admin HTTP routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/admin/events", get(admin_events))
        .route("/admin/replay", get(admin_replay))
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    if let Some((cluster, metrics)) = &state.cluster {
        metrics.refresh(cluster);
    }
    state.log_metrics.read_live(&state.log);
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_owned())],
            format!("encoding metrics failed: {err}").into_bytes(),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

type Reply = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    (status, [(header::CONTENT_TYPE, content_type)], body)
}

fn error(status: StatusCode, text: impl std::fmt::Display) -> Reply {
    reply(
        status,
        "application/json",
        serde_json::json!({ "error": text.to_string() }).to_string(),
    )
}

/// Check the bearer token; compare without an early exit so timing does not leak it.
fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), Reply> {
    let Some(expected) = &state.token else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "the admin API is disabled: set admin.token in the configuration",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    if diff == 0 {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        ))
    }
}

fn time_param(params: &HashMap<String, String>, key: &str) -> Result<Option<u64>, Reply> {
    params
        .get(key)
        .map(|v| crate::inspect::parse_time(v))
        .transpose()
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("{key}: {e:#}")))
}

async fn admin_events(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    if let Err(denied) = authorize(&state, &headers) {
        return denied;
    }
    let query = match (time_param(&params, "from"), time_param(&params, "to")) {
        (Ok(from), Ok(to)) => crate::inspect::EventQuery {
            tenant: params.get("tenant").cloned(),
            from,
            to,
            kind: params.get("type").cloned(),
            target: params.get("target").cloned(),
            limit: params.get("limit").and_then(|l| l.parse().ok()),
        },
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let log = state.log.clone();
    match tokio::task::spawn_blocking(move || crate::inspect::events(&log, &query)).await {
        Ok(Ok(ops)) => match serde_json::to_string(&ops) {
            Ok(body) => reply(StatusCode::OK, "application/json", body),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn admin_replay(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    if let Err(denied) = authorize(&state, &headers) {
        return denied;
    }
    let at = match time_param(&params, "at") {
        Ok(at) => at.unwrap_or_else(latticed_actors::time::unix_now_ms),
        Err(e) => return e,
    };
    let tenant = params
        .get("tenant")
        .cloned()
        .unwrap_or_else(|| "default".into());
    let log = state.log.clone();
    match tokio::task::spawn_blocking(move || crate::inspect::replay(&log, &tenant, at)).await {
        Ok(Ok(json)) => reply(StatusCode::OK, "application/json", json),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
