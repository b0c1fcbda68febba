//! Rebuilding a tenant's state at any past instant from the log alone. Because the log holds
//! every origin's ops, any node's log reconstructs the whole network.

use std::ops::Bound;

use latticed_crdt::{OpId, Stamp, TenantId, TenantState};

use crate::diff::StateDiff;
use crate::entry::Entry;
use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader, TimeValue, TIME_SUFFIX_LEN};
use crate::log::EventLog;
use crate::storage::Space;

impl EventLog {
    /// The state of `tenant` built from every state op with wall time at or before `at_ms`.
    ///
    /// The result does not depend on the order ops arrived in (the CRDT property); they are
    /// applied in stamp order anyway so replay is deterministic step by step. Messages are
    /// skipped (they change no state) without being read.
    pub fn replay(&self, tenant: &TenantId, at_ms: u64) -> Result<TenantState, LogError> {
        self.settle();
        let start = KeyBuf::tenant(tenant)?.u64(0).into_vec();
        let end = KeyBuf::tenant(tenant)?
            .u64(at_ms)
            .max_suffix(TIME_SUFFIX_LEN)
            .into_vec();
        let mut order: Vec<(Stamp, OpId)> = Vec::new();
        let scan = self.store().scan(
            Space::Time,
            Bound::Included(start),
            Bound::Included(end),
            false,
        );
        for item in scan {
            let (key, value) = item.map_err(LogError::storage("reading the time index"))?;
            let time = TimeValue::decode(&value)?;
            if !time.kind.is_state() {
                continue;
            }
            let mut r = KeyReader::new(&key);
            r.str()?;
            r.u64()?;
            let id = r.op_id()?;
            r.finish()?;
            if time.count == 1 {
                order.push((time.stamp, id));
                continue;
            }
            // A run is indexed at its first op's time; later ops of it may be past `at_ms`.
            for op in self.ops_of_time_entry(tenant, id, time.count)? {
                if op.wall_ms <= at_ms {
                    order.push((op.stamp, op.id));
                }
            }
        }
        order.sort_unstable();
        let mut state = TenantState::new(tenant.clone(), self.casemapping(tenant));
        for (_, id) in order {
            if let Some(Entry::Op(op)) = self.get(tenant, id)? {
                state.apply(&op).map_err(|source| LogError::Replay {
                    tenant: tenant.clone(),
                    source,
                })?;
            }
        }
        Ok(state)
    }

    /// [`EventLog::replay`] printed as the canonical snapshot in pretty JSON with a trailing
    /// newline: byte-identical for the same ops, on any node, on every run.
    pub fn replay_json(&self, tenant: &TenantId, at_ms: u64) -> Result<String, LogError> {
        let snapshot = self.replay(tenant, at_ms)?.snapshot();
        let mut json =
            serde_json::to_string_pretty(&snapshot).map_err(|source| LogError::Json {
                tenant: tenant.clone(),
                source,
            })?;
        json.push('\n');
        Ok(json)
    }

    /// What changed in `tenant` between the instants `from_ms` and `to_ms`.
    pub fn diff(&self, tenant: &TenantId, from_ms: u64, to_ms: u64) -> Result<StateDiff, LogError> {
        let before = self.replay(tenant, from_ms)?;
        let after = self.replay(tenant, to_ms)?;
        StateDiff::between(&before, &after, from_ms, to_ms).map_err(|source| LogError::Json {
            tenant: tenant.clone(),
            source,
        })
    }

    /// [`EventLog::diff`] as pretty JSON with a trailing newline, byte-identical across runs.
    pub fn diff_json(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<String, LogError> {
        let diff = self.diff(tenant, from_ms, to_ms)?;
        let mut json = serde_json::to_string_pretty(&diff).map_err(|source| LogError::Json {
            tenant: tenant.clone(),
            source,
        })?;
        json.push('\n');
        Ok(json)
    }
}
