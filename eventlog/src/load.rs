//! Rebuilding the in-memory progress (which seqs of each origin are held) when a log opens.
//!
//! Tenants and origins are found by skipping through the ops keyspace (one seek per tenant and
//! origin, not a full scan). For each origin the walk starts at its last progress checkpoint,
//! written at flush time after the ops it covers, so a crash can lose a checkpoint but never
//! leave one ahead of the ops on disk; a checkpoint whose op is missing anyway is ignored and the
//! origin is walked from seq 1. A record holding a run holds every seq of the run.

use std::collections::BTreeMap;
use std::ops::Bound;

use latticed_crdt::{NodeId, OpId, TenantId};

use crate::error::LogError;
use crate::keys::{self, KeyReader};
use crate::log::progress_key;
use crate::progress::OriginProgress;
use crate::storage::{Space, Storage};
use crate::stored::{self, Record};

/// Progress of every origin of every tenant held in `store`.
pub(crate) fn load_progress(
    store: &dyn Storage,
) -> Result<BTreeMap<TenantId, BTreeMap<NodeId, OriginProgress>>, LogError> {
    let mut tenants = BTreeMap::new();
    let mut from = Bound::Unbounded;
    while let Some(key) = first_key(store, from)? {
        let tenant = TenantId(KeyReader::new(&key).str()?.to_owned());
        let prefix = keys::KeyBuf::tenant(&tenant)?.into_vec();
        tenants.insert(tenant.clone(), load_tenant(store, &tenant, &prefix)?);
        match keys::prefix_successor(&prefix) {
            Some(next) => from = Bound::Included(next),
            None => break,
        }
    }
    Ok(tenants)
}

fn load_tenant(
    store: &dyn Storage,
    tenant: &TenantId,
    prefix: &[u8],
) -> Result<BTreeMap<NodeId, OriginProgress>, LogError> {
    let mut origins = BTreeMap::new();
    let mut from = Bound::Included(prefix.to_vec());
    while let Some(key) = first_key(store, from)? {
        if !key.starts_with(prefix) {
            break;
        }
        let mut r = KeyReader::new(&key);
        r.str()?;
        let origin = NodeId(r.u32()?);
        origins.insert(origin, load_origin(store, tenant, origin)?);
        match keys::prefix_successor(&keys::origin_prefix(tenant, origin)?) {
            Some(next) => from = Bound::Included(next),
            None => break,
        }
    }
    Ok(origins)
}

fn load_origin(
    store: &dyn Storage,
    tenant: &TenantId,
    origin: NodeId,
) -> Result<OriginProgress, LogError> {
    let checkpoint = match store
        .get(Space::Meta, &progress_key(tenant, origin)?)
        .map_err(LogError::storage("reading a progress checkpoint"))?
    {
        Some(bytes) => crate::meta::parse_u64(&bytes)?,
        None => 0,
    };
    let trusted = checkpoint > 0
        && stored::find(
            store,
            tenant,
            OpId {
                origin,
                seq: checkpoint,
            },
        )?
        .is_some();
    let mut progress = OriginProgress {
        contiguous: if trusted { checkpoint } else { 0 },
        ..OriginProgress::default()
    };
    let next = OpId {
        origin,
        seq: progress.contiguous.saturating_add(1),
    };
    // The walk starts at the record holding the next seq, which may be a run begun before it.
    let start = match stored::find(store, tenant, next)? {
        Some(record) => record.key,
        None => keys::op_key(tenant, next)?,
    };
    let end = keys::prefix_successor(&keys::origin_prefix(tenant, origin)?)
        .map_or(Bound::Unbounded, Bound::Excluded);
    for item in store.scan(Space::Ops, Bound::Included(start), end, false) {
        let (key, value) = item.map_err(LogError::storage("scanning ops on open"))?;
        let record = Record::from_item(key, value)?;
        for seq in record.first..record.first + record.len()? {
            progress.hold(seq);
        }
    }
    Ok(progress)
}

fn first_key(store: &dyn Storage, from: Bound<Vec<u8>>) -> Result<Option<Vec<u8>>, LogError> {
    match store.scan(Space::Ops, from, Bound::Unbounded, false).next() {
        Some(item) => Ok(Some(
            item.map_err(LogError::storage("finding tenants and origins"))?
                .0,
        )),
        None => Ok(None),
    }
}
