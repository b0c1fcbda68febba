//! Per-tenant protocol limits: the lengths and counts advertised in ISUPPORT and enforced by the node.

use serde::{Deserialize, Serialize};

/// Sizes and counts a tenant allows. Lengths are in bytes, as IRC counts them.
///
/// Each field's doc gives the range validation accepts: wide enough for any real network, narrow enough
/// to catch a slipped digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// NICKLEN: longest nickname (9..=64).
    pub nick_len: usize,
    /// CHANNELLEN: longest channel name, prefix included (8..=128).
    pub channel_len: usize,
    /// TOPICLEN: longest topic (1..=390).
    pub topic_len: usize,
    /// KICKLEN: longest kick reason (1..=390).
    pub kick_len: usize,
    /// AWAYLEN: longest away message (1..=390).
    pub away_len: usize,
    /// Longest realname (gecos) given in USER (1..=390).
    pub realname_len: usize,
    /// USERLEN: longest username given in USER (1..=64).
    pub user_len: usize,
    /// CHANLIMIT: how many channels one user may be in (1..=10000).
    pub max_channels_per_user: usize,
    /// MAXLIST: entries per list mode (bans, excepts, invite exceptions) per channel (1..=10000).
    pub max_list_entries: usize,
    /// MONITOR: how many nicks one client may monitor (1..=10000).
    pub max_monitor: usize,
    /// TARGMAX for PRIVMSG and NOTICE: targets per command (1..=32).
    pub max_targets: usize,
    /// WHOWAS entries kept per nickname (1..=64).
    pub max_whowas: usize,
    /// WHOWAS entries kept in total for the tenant, oldest dropped first (at least `max_whowas`, at most 1000000).
    pub whowas_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            nick_len: 32,
            channel_len: 64,
            topic_len: 390,
            kick_len: 390,
            away_len: 390,
            realname_len: 150,
            user_len: 16,
            max_channels_per_user: 100,
            max_list_entries: 100,
            max_monitor: 100,
            max_targets: 4,
            max_whowas: 8,
            whowas_entries: 1000,
        }
    }
}
