//! Reading a node's event log for operators: the `replay` and `events` subcommands and the
//! admin API share these.

use std::path::Path;

use anyhow::{bail, Context, Result};
use latticed_crdt::{NodeId, Op, TenantId, Uid};
use latticed_eventlog::{EventFilter, EventLog, EventTarget, OpKind};

/// Most events one query returns unless asked otherwise.
pub const DEFAULT_EVENT_LIMIT: usize = 10_000;

/// Open an existing event log for reading (refusing to create one where there is none).
pub fn open_existing(dir: &Path) -> Result<EventLog> {
    if !dir.is_dir() {
        bail!("no event log at {}: not a directory", dir.display());
    }
    EventLog::open(dir).with_context(|| {
        format!(
            "opening the event log in {} (is a node still running on it?)",
            dir.display()
        )
    })
}

/// A time given as Unix milliseconds or as ISO 8601 (`2026-11-22T03:40:00Z`, `server-time` form).
pub fn parse_time(text: &str) -> Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    latticed_actors::time::parse_iso8601(text).with_context(|| {
        format!("{text:?} is not a time: use Unix milliseconds or YYYY-MM-DDThh:mm:ss[.sss]Z")
    })
}

/// A user id in its display form (`001000002`: three digits of node, six base-36 digits).
fn parse_uid(text: &str) -> Option<Uid> {
    if text.len() != 9 || !text.is_ascii() {
        return None;
    }
    let node: u32 = text[..3].parse().ok()?;
    let n = u64::from_str_radix(&text[3..], 36).ok()?;
    Some(Uid {
        node: NodeId(node),
        n,
    })
}

/// What `events` is asked for.
#[derive(Debug, Default)]
pub struct EventQuery {
    /// Tenant (default `default`).
    pub tenant: Option<String>,
    /// From this time (Unix ms), inclusive.
    pub from: Option<u64>,
    /// To this time (Unix ms), inclusive.
    pub to: Option<u64>,
    /// Op kind name (`message`, `join`, `set_topic`, ...).
    pub kind: Option<String>,
    /// A channel (`#name`) or a user id.
    pub target: Option<String>,
    /// Most events returned.
    pub limit: Option<usize>,
}

/// Run an event query against the log.
pub fn events(log: &EventLog, query: &EventQuery) -> Result<Vec<Op>> {
    let tenant = TenantId(query.tenant.clone().unwrap_or_else(|| "default".into()));
    let mut filter = EventFilter::default();
    if let Some(kind) = &query.kind {
        let parsed = OpKind::parse(kind).with_context(|| format!("unknown event type {kind:?}"))?;
        filter = filter.kind(parsed);
    }
    if let Some(target) = &query.target {
        let target = if target.starts_with('#') {
            EventTarget::Channel(target.clone())
        } else {
            EventTarget::User(parse_uid(target).with_context(|| {
                format!("{target:?} is neither a #channel nor a user id like 001000002")
            })?)
        };
        filter = filter.target(target);
    }
    let ops = log.ops_in_time_range(
        &tenant,
        query.from.unwrap_or(0),
        query.to.unwrap_or(u64::MAX),
        &filter,
        query.limit.unwrap_or(DEFAULT_EVENT_LIMIT),
    )?;
    Ok(ops)
}

/// The tenant's state at `at_ms`, as pretty JSON ending with a newline.
pub fn replay(log: &EventLog, tenant: &str, at_ms: u64) -> Result<String> {
    Ok(log.replay_json(&TenantId(tenant.to_owned()), at_ms)?)
}

/// What changed in the tenant between two instants, as pretty JSON.
pub fn diff(log: &EventLog, tenant: &str, from_ms: u64, to_ms: u64) -> Result<String> {
    Ok(log.diff_json(&TenantId(tenant.to_owned()), from_ms, to_ms)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_uids_parse() {
        assert_eq!(parse_time("1000").unwrap(), 1000);
        assert_eq!(parse_time("1970-01-01T00:00:01.500Z").unwrap(), 1500);
        assert!(parse_time("yesterday").is_err());
        let uid = Uid {
            node: NodeId(1),
            n: 1234,
        };
        assert_eq!(parse_uid(&uid.to_string()), Some(uid));
        assert_eq!(parse_uid("nick"), None);
    }
}
