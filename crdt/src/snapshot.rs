//! A canonical, serializable picture of everything visible in a tenant: what two replicas that
//! applied the same ops must agree on, and what replay prints as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::channel::{ChannelView, ListEntry, Topic};
use crate::ids::{TenantId, Uid};
use crate::op::ListKind;
use crate::user::UserView;

/// Everything visible in one tenant, in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    /// The tenant.
    pub tenant: TenantId,
    /// Live users by uid.
    pub users: Vec<UserView>,
    /// Visible channels by folded name.
    pub channels: Vec<ChannelSnapshot>,
}

/// Everything visible about one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    /// Display name.
    pub name: String,
    /// Creation time (Unix milliseconds).
    pub created_ms: u64,
    /// Visible members by uid.
    pub members: Vec<MemberSnapshot>,
    /// Topic.
    pub topic: Option<Topic>,
    /// Simple flags, sorted.
    pub flags: String,
    /// Key.
    pub key: Option<String>,
    /// Member limit.
    pub limit: Option<u32>,
    /// Non-empty lists, each oldest add first.
    pub lists: BTreeMap<ListKind, Vec<ListEntry>>,
}

/// One member of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSnapshot {
    /// The member.
    pub uid: Uid,
    /// Prefix mode letters in rank order, e.g. `"ov"`.
    pub prefixes: String,
}

impl TenantSnapshot {
    pub(crate) fn new<'a>(
        tenant: TenantId,
        users: impl Iterator<Item = UserView>,
        channels: impl Iterator<Item = &'a ChannelView>,
    ) -> TenantSnapshot {
        TenantSnapshot {
            tenant,
            users: users.collect(),
            channels: channels.map(ChannelSnapshot::new).collect(),
        }
    }
}

impl ChannelSnapshot {
    fn new(view: &ChannelView) -> ChannelSnapshot {
        ChannelSnapshot {
            name: view.name.clone(),
            created_ms: view.created_ms,
            members: view
                .members()
                .map(|(uid, p)| MemberSnapshot {
                    uid,
                    prefixes: p.modes(),
                })
                .collect(),
            topic: view.topic().cloned(),
            flags: view.flags(),
            key: view.key().map(str::to_owned),
            limit: view.limit(),
            lists: ListKind::ALL
                .into_iter()
                .map(|kind| (kind, view.list(kind).cloned().collect::<Vec<_>>()))
                .filter(|(_, entries)| !entries.is_empty())
                .collect(),
        }
    }
}
