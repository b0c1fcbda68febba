//! Node and tenant metadata kept beside the ops: the Lamport clock ceiling and the epoch of each
//! node (so a restart never reuses a stamp and peers can tell incarnations apart), and each
//! tenant's casemapping.

use std::collections::HashMap;

use latticed_crdt::{NodeId, TenantId};
use latticed_proto::CaseMapping;

use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader, META_CASEMAPPING, META_CLOCK, META_EPOCH};
use crate::log::EventLog;
use crate::storage::{scan_prefix, Space, Storage};

/// Parses a stored big-endian `u64`.
pub(crate) fn parse_u64(bytes: &[u8]) -> Result<u64, LogError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| LogError::CorruptKey {
        detail: format!("expected an 8-byte number, found {} bytes", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Every stored tenant casemapping.
pub(crate) fn load_casemappings(
    store: &dyn Storage,
) -> Result<HashMap<TenantId, CaseMapping>, LogError> {
    let mut out = HashMap::new();
    for item in scan_prefix(store, Space::Meta, &[META_CASEMAPPING], false) {
        let (key, value) = item.map_err(LogError::storage("loading casemappings"))?;
        let mut r = KeyReader::new(key.get(1..).unwrap_or_default());
        let tenant = TenantId(r.str()?.to_owned());
        r.finish()?;
        let name = String::from_utf8_lossy(&value).into_owned();
        let casemapping = CaseMapping::parse(&name).ok_or(LogError::UnknownCaseMapping {
            tenant: tenant.clone(),
            name,
        })?;
        out.insert(tenant, casemapping);
    }
    Ok(out)
}

impl EventLog {
    /// Records the casemapping of `tenant` (from its configuration). History queries and event
    /// filters compare channel names with it, and replay builds state with it. Durable at the
    /// next flush.
    pub fn set_casemapping(
        &self,
        tenant: &TenantId,
        casemapping: CaseMapping,
    ) -> Result<(), LogError> {
        let key = KeyBuf::meta(META_CASEMAPPING).str(&tenant.0)?.into_vec();
        self.store()
            .insert(Space::Meta, &key, casemapping.name().as_bytes())
            .map_err(LogError::storage("storing a casemapping"))?;
        self.remember_casemapping(tenant, casemapping);
        Ok(())
    }

    /// The last clock ceiling persisted for `node` (0 if none): a restarted node's clock starts
    /// above it (`LamportClock::restore`).
    pub fn clock_ceiling(&self, node: NodeId) -> Result<u64, LogError> {
        self.meta_u64(META_CLOCK, node)
    }

    /// Durably records a new clock ceiling for `node` (flushed before returning), as
    /// `LamportClock::take_ceiling_to_persist` asks. A lower ceiling than the stored one is
    /// ignored, so the stored ceiling never goes back.
    pub fn persist_clock_ceiling(&self, node: NodeId, ceiling: u64) -> Result<(), LogError> {
        let _guard = self.inner.meta_lock.lock();
        if ceiling > self.meta_u64(META_CLOCK, node)? {
            self.set_meta_u64(META_CLOCK, node, ceiling)?;
        }
        self.store()
            .flush()
            .map_err(LogError::storage("flushing the clock ceiling"))
    }

    /// The epoch of `node`'s current incarnation (0 if it never began one).
    pub fn epoch(&self, node: NodeId) -> Result<u64, LogError> {
        self.meta_u64(META_EPOCH, node)
    }

    /// Starts a new incarnation of `node`: durably stores and returns an epoch one above the
    /// last, so peers can tell a restarted node from a stale connection of the old one.
    pub fn begin_epoch(&self, node: NodeId) -> Result<u64, LogError> {
        self.begin_epoch_at_least(node, 1)
    }

    /// Like [`EventLog::begin_epoch`], but the new epoch is at least `floor`: a log that lost its
    /// predecessor's record (a new or quarantined directory) cannot know which epochs peers
    /// already saw, and the caller picks a floor they cannot have.
    pub fn begin_epoch_at_least(&self, node: NodeId, floor: u64) -> Result<u64, LogError> {
        let _guard = self.inner.meta_lock.lock();
        let epoch = self
            .meta_u64(META_EPOCH, node)?
            .saturating_add(1)
            .max(floor);
        self.set_meta_u64(META_EPOCH, node, epoch)?;
        self.store()
            .flush()
            .map_err(LogError::storage("flushing the epoch"))?;
        Ok(epoch)
    }

    fn meta_u64(&self, tag: u8, node: NodeId) -> Result<u64, LogError> {
        let key = KeyBuf::meta(tag).u32(node.0).into_vec();
        match self
            .store()
            .get(Space::Meta, &key)
            .map_err(LogError::storage("reading node metadata"))?
        {
            Some(bytes) => parse_u64(&bytes),
            None => Ok(0),
        }
    }

    fn set_meta_u64(&self, tag: u8, node: NodeId, value: u64) -> Result<(), LogError> {
        let key = KeyBuf::meta(tag).u32(node.0).into_vec();
        self.store()
            .insert(Space::Meta, &key, &value.to_be_bytes())
            .map_err(LogError::storage("writing node metadata"))
    }
}
