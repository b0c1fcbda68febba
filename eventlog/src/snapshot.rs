//! Periodic snapshots of a tenant's state, so a restart applies only the ops after the
//! snapshot instead of the whole log.
//!
//! A snapshot is any serde form of the state together with the version vector of the ops it
//! includes: restoring means decoding the state and applying every op held beyond that vector
//! ([`EventLog::ops_after`]). The newest [`SNAPSHOTS_KEPT`] snapshots of each tenant are kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latticed_crdt::TenantId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode, SNAPSHOT_RECORD_LIMIT};
use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader};
use crate::log::EventLog;
use crate::progress::VersionVector;
use crate::storage::{scan_prefix, Space};

/// How many snapshots per tenant are kept: the newest, and one before it in case the newest is
/// unreadable.
pub const SNAPSHOTS_KEPT: usize = 2;

/// A stored snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Snapshot<S> {
    /// The ops included: every op at or below each origin's seq, and no other.
    pub vv: VersionVector,
    /// When it was written (Unix milliseconds).
    pub taken_ms: u64,
    /// The state.
    pub state: S,
}

/// Borrowed twin of [`Snapshot`] with the same serde layout, for writing without a copy.
#[derive(Serialize)]
struct SnapshotRef<'a, S> {
    vv: &'a VersionVector,
    taken_ms: u64,
    state: &'a S,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl EventLog {
    /// Stores a snapshot of `tenant`'s state covering exactly the ops in `vv`, and drops all but
    /// the newest [`SNAPSHOTS_KEPT`]. Durable at the next flush.
    pub fn write_snapshot<S: Serialize>(
        &self,
        tenant: &TenantId,
        state: &S,
        vv: &VersionVector,
    ) -> Result<(), LogError> {
        let taken_ms = now_ms();
        let record = encode::<_, SNAPSHOT_RECORD_LIMIT>(&SnapshotRef {
            vv,
            taken_ms,
            state,
        })
        .map_err(|source| LogError::Encode {
            what: format!("snapshot of tenant {tenant}"),
            source,
        })?;
        let key = KeyBuf::tenant(tenant)?.u64(taken_ms).into_vec();
        self.store()
            .insert(Space::Snapshots, &key, &record)
            .map_err(LogError::storage("writing a snapshot"))?;
        let prefix = KeyBuf::tenant(tenant)?.into_vec();
        let stale: Vec<Vec<u8>> = scan_prefix(self.store(), Space::Snapshots, &prefix, true)
            .skip(SNAPSHOTS_KEPT)
            .map(|item| item.map(|(k, _)| k))
            .collect::<Result<_, _>>()
            .map_err(LogError::storage("listing old snapshots"))?;
        for key in stale {
            self.store()
                .remove(Space::Snapshots, &key)
                .map_err(LogError::storage("removing an old snapshot"))?;
        }
        Ok(())
    }

    /// The newest snapshot of `tenant`, if any.
    pub fn latest_snapshot<S: DeserializeOwned>(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Snapshot<S>>, LogError> {
        let prefix = KeyBuf::tenant(tenant)?.into_vec();
        let Some(item) = scan_prefix(self.store(), Space::Snapshots, &prefix, true).next() else {
            return Ok(None);
        };
        let (key, value) = item.map_err(LogError::storage("reading a snapshot"))?;
        decode::<Snapshot<S>, SNAPSHOT_RECORD_LIMIT>(&value)
            .map(Some)
            .map_err(|source| LogError::Decode {
                what: format!("snapshot {} of tenant {tenant}", describe_time(&key)),
                source,
            })
    }

    /// How long ago the newest snapshot of `tenant` was written, if any: a metric (a large age
    /// means a slow restart).
    pub fn snapshot_age(&self, tenant: &TenantId) -> Result<Option<Duration>, LogError> {
        let prefix = KeyBuf::tenant(tenant)?.into_vec();
        let Some(item) = scan_prefix(self.store(), Space::Snapshots, &prefix, true).next() else {
            return Ok(None);
        };
        let (key, _) = item.map_err(LogError::storage("reading a snapshot"))?;
        let mut r = KeyReader::new(&key);
        r.str()?;
        let taken_ms = r.u64()?;
        Ok(Some(Duration::from_millis(
            now_ms().saturating_sub(taken_ms),
        )))
    }
}

fn describe_time(key: &[u8]) -> String {
    let mut r = KeyReader::new(key);
    match r.str().and_then(|_| r.u64()) {
        Ok(ms) => format!("taken at {ms} ms"),
        Err(_) => format!("under malformed key {key:02x?}"),
    }
}
