//! The serde form of a [`TenantState`], for snapshots.
//!
//! The state no longer keeps its users' views, but its stored form still holds them: the form
//! is the one snapshots had when it did, so those read back, and new snapshots read the same in
//! older builds. Reading keeps only which users the views were of.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use latticed_proto::CaseMapping;
use rustc_hash::FxHashMap;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel::{ChannelRec, ChannelView};
use crate::ids::{TenantId, Uid};
use crate::nick::NickIndex;
use crate::sorted::SortedSet;
use crate::user::{UserRec, UserView};

use super::TenantState;

/// A [`TenantState`] as stored, borrowed for writing.
#[derive(Serialize)]
struct StoredRef<'a> {
    tenant: &'a TenantId,
    #[serde(with = "crate::casemapping")]
    casemapping: CaseMapping,
    users: &'a FxHashMap<Uid, UserRec>,
    channels: &'a HashMap<String, ChannelRec>,
    user_views: Views<'a>,
    channel_views: &'a BTreeMap<String, ChannelView>,
    user_channels: &'a FxHashMap<Uid, SortedSet<String>>,
    nicks: &'a NickIndex,
}

/// A [`TenantState`] as stored, read back.
#[derive(Deserialize)]
struct Stored {
    tenant: TenantId,
    #[serde(with = "crate::casemapping")]
    casemapping: CaseMapping,
    users: FxHashMap<Uid, UserRec>,
    channels: HashMap<String, ChannelRec>,
    user_views: BTreeMap<Uid, UserView>,
    channel_views: BTreeMap<String, ChannelView>,
    user_channels: FxHashMap<Uid, SortedSet<String>>,
    nicks: NickIndex,
}

/// The views of the live users, by uid, built while they are written.
struct Views<'a>(&'a TenantState);

impl Serialize for Views<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        let mut map = out.serialize_map(Some(state.visible.len()))?;
        for &uid in &state.visible {
            let view = state
                .user(uid)
                .ok_or_else(|| S::Error::custom(format!("live user {uid} has no view")))?;
            map.serialize_entry(&uid, &view)?;
        }
        map.end()
    }
}

impl Serialize for TenantState {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        StoredRef {
            tenant: &self.tenant,
            casemapping: self.casemapping,
            users: &self.users,
            channels: &self.channels,
            user_views: Views(self),
            channel_views: &self.channel_views,
            user_channels: &self.user_channels,
            nicks: &self.nicks,
        }
        .serialize(out)
    }
}

impl<'de> Deserialize<'de> for TenantState {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<TenantState, D::Error> {
        let stored = Stored::deserialize(input)?;
        let mut state = TenantState {
            tenant: stored.tenant,
            casemapping: stored.casemapping,
            users: stored.users,
            channels: stored.channels,
            visible: BTreeSet::new(),
            mode_counts: BTreeMap::new(),
            channel_views: stored.channel_views,
            user_channels: stored.user_channels,
            nicks: stored.nicks,
        };
        for (uid, view) in stored.user_views {
            state.count_modes(view.modes.iter(), true);
            state.visible.insert(uid);
        }
        Ok(state)
    }
}
