//! What local clients see of a network split that outlasts the grace period.
//!
//! The replicated state never forgets a user because a link went down: that is what lets a split
//! heal by merging. But clients expect an unreachable server's users to leave once a split is
//! real, so when a peer has been unreachable for the grace period its users are *hidden* from
//! this node's clients: everyone sharing a channel with them sees the conventional
//! `*.net *.split` QUIT, and queries (NAMES, WHO, WHOIS, ISON, LUSERS, messages to a nick) stop
//! finding them. When the peer links again its users reappear with a JOIN (and their channel
//! prefixes) in every channel where they are, sent before the ops of the split are replayed, so
//! messages from the split arrive from users clients can see.
//!
//! Hiding is a view of this node only: it is not an op, nothing of it is logged or shipped, and
//! another node that can still reach the peer keeps showing its users.

use std::collections::HashSet;

use latticed_crdt::{Change, ChannelView, NodeId, Op, OpBody, Uid};
use latticed_proto::Message;

use crate::caps::Caps;
use crate::outgoing::Outgoing;
use crate::render::{notify_monitors, send_to};
use crate::tenant::{user_mask, Core, Outbox};
use crate::time::unix_now_ms;

/// The QUIT reason every ircd uses for users lost in a split: `*.net *.split`.
pub const SPLIT_QUIT_REASON: &str = "*.net *.split";

/// Users of unreachable peers that this node's clients were told have quit.
#[derive(Default, Debug)]
pub struct HiddenUsers {
    uids: HashSet<Uid>,
}

impl HiddenUsers {
    /// Whether `uid` is hidden from this node's clients.
    pub fn contains(&self, uid: Uid) -> bool {
        self.uids.contains(&uid)
    }

    /// How many users are hidden.
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// Whether no user is hidden.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }
}

impl Core {
    /// Whether `uid` is visible to this node's clients (not hidden by an expired split).
    pub fn is_visible(&self, uid: Uid) -> bool {
        !self.hidden.contains(uid)
    }

    /// The user holding `nick`, if this node's clients can see them. Commands that look a user up
    /// by nick use this; only nick registration asks the state directly, because a hidden user
    /// still owns their nick and will be back.
    pub fn visible_uid_by_nick(&self, nick: &str) -> Option<Uid> {
        self.state
            .uid_by_nick(nick)
            .filter(|uid| self.is_visible(*uid))
    }

    /// Users this node's clients can see.
    pub fn visible_user_count(&self) -> usize {
        self.state.user_count().saturating_sub(self.hidden.len())
    }

    /// Members of `chan` this node's clients can see (LIST's count). 0 means every member is
    /// hidden: to this node's clients, who saw them all quit, the channel is gone.
    pub fn visible_member_count(&self, chan: &ChannelView) -> usize {
        if self.hidden.is_empty() {
            return chan.member_count();
        }
        chan.members()
            .filter(|(uid, _)| self.is_visible(*uid))
            .count()
    }

    /// Users this node's clients can see with user mode `mode` set (LUSERS: invisible, opers).
    pub fn visible_users_with_mode(&self, mode: char) -> usize {
        let hidden = self
            .hidden
            .uids
            .iter()
            .filter(|uid| self.state.has_user_mode(**uid, mode))
            .count();
        self.state.users_with_mode(mode).saturating_sub(hidden)
    }

    /// The grace period for `node` expired: hide its users, telling every local client that shares
    /// a channel with one of them that they quit with `*.net *.split`, and MONITORing clients that
    /// they are offline. Returns how many users were hidden.
    pub fn hide_users_of(&mut self, node: NodeId) -> usize {
        let lost: Vec<Uid> = self
            .state
            .uids()
            .filter(|uid| uid.node == node && !self.hidden.contains(*uid))
            .collect();
        let now = unix_now_ms();
        let mut outbox = Outbox::new(None);
        for uid in &lost {
            let Some(user) = self.state.user(*uid) else {
                continue;
            };
            let nick = user.nick.clone();
            let quit = Message::new("QUIT")
                .with_source(user_mask(&user))
                .with_param(SPLIT_QUIT_REASON);
            let neighbours = self.local_neighbours(*uid);
            send_to(self, &mut outbox, neighbours.into_iter(), quit, now);
            self.hidden.uids.insert(*uid);
            notify_monitors(self, &nick, None, &mut outbox);
        }
        self.metrics()
            .split_hidden_users
            .set(self.hidden.len() as i64);
        lost.len()
    }

    /// `node` linked again as incarnation `epoch`: show its hidden users again with a JOIN in each of
    /// their channels (extended-join where enabled), a MODE for their prefixes and their AWAY to
    /// away-notify clients. Users of the node's earlier incarnations stay hidden: their sessions
    /// ended with that process, and the node's restart ends them with an op this view then swallows.
    /// Returns how many users reappeared.
    pub fn show_users_of(&mut self, node: NodeId, epoch: u64) -> usize {
        let current_floor = epoch << 32;
        let back: Vec<Uid> = self
            .hidden
            .uids
            .iter()
            .filter(|uid| uid.node == node && uid.n >= current_floor)
            .copied()
            .collect();
        for uid in &back {
            self.hidden.uids.remove(uid);
        }
        let now = unix_now_ms();
        let mut outbox = Outbox::new(None);
        let mut sorted = back.clone();
        sorted.sort();
        for uid in sorted {
            self.render_rejoin(uid, now, &mut outbox);
        }
        self.metrics()
            .split_hidden_users
            .set(self.hidden.len() as i64);
        back.len()
    }

    /// Whether an op's effects must not be shown: it concerns a hidden user. A hidden user's
    /// departure un-hides nothing but forgets them (their QUIT was shown when they were hidden).
    pub(crate) fn swallow_hidden(&mut self, op: &Op, changes: &[Change]) -> bool {
        if self.hidden.is_empty() {
            return false;
        }
        if let OpBody::UserDepart { uid, .. } = &op.body {
            if self.hidden.uids.remove(uid) {
                self.invites.retain(|(_, invitee)| invitee != uid);
                self.metrics()
                    .split_hidden_users
                    .set(self.hidden.len() as i64);
                return true;
            }
        }
        let actor = match &op.body {
            OpBody::Message { from, .. } => Some(*from),
            _ => changes.iter().find_map(change_subject),
        };
        actor.is_some_and(|uid| self.hidden.contains(uid))
    }

    fn render_rejoin(&mut self, uid: Uid, wall_ms: u64, outbox: &mut Outbox) {
        let Some(user) = self.state.user(uid) else {
            return;
        };
        let mask = user_mask(&user);
        let nick = user.nick.clone();
        let account = user.account.clone();
        let realname = user.realname.clone();
        let away = user.away.clone();
        let channels: Vec<(String, String, Vec<Uid>)> = self
            .state
            .channels_of(uid)
            .map(|chan| {
                let modes = chan.member(uid).map(|p| p.modes()).unwrap_or_default();
                let locals = chan
                    .members()
                    .map(|(m, _)| m)
                    .filter(|m| self.local.contains_key(m))
                    .collect();
                (chan.name.clone(), modes, locals)
            })
            .collect();
        let mut told_away: HashSet<Uid> = HashSet::new();
        for (channel, modes, locals) in channels {
            let plain = Message::new("JOIN")
                .with_source(mask.clone())
                .with_param(channel.clone());
            let extended = plain
                .clone()
                .with_param(account.as_deref().unwrap_or("*"))
                .with_param(realname.to_string());
            let mut plain = Outgoing::new(plain, wall_ms).account(account.as_deref());
            let mut extended = Outgoing::new(extended, wall_ms).account(account.as_deref());
            for member in &locals {
                let caps = self.caps_of(*member);
                let line = if caps.has(Caps::EXTENDED_JOIN) {
                    extended.for_caps(caps)
                } else {
                    plain.for_caps(caps)
                };
                self.deliver(outbox, *member, line);
            }
            if !modes.is_empty() {
                let mut mode = Message::new("MODE")
                    .with_source(self.server_name.clone())
                    .with_param(channel.clone())
                    .with_param(format!("+{modes}"));
                for _ in modes.chars() {
                    mode = mode.with_param(nick.to_string());
                }
                send_to(self, outbox, locals.iter().copied(), mode, wall_ms);
            }
            if let Some(text) = &away {
                let away_line = Message::new("AWAY")
                    .with_source(mask.clone())
                    .with_param(text.to_string());
                let fresh: Vec<Uid> = locals
                    .iter()
                    .copied()
                    .filter(|m| self.caps_of(*m).has(Caps::AWAY_NOTIFY) && told_away.insert(*m))
                    .collect();
                send_to(self, outbox, fresh.into_iter(), away_line, wall_ms);
            }
        }
        notify_monitors(self, &nick, Some(&mask), outbox);
    }
}

/// The user a change is about, if it is about one.
fn change_subject(change: &Change) -> Option<Uid> {
    match change {
        Change::UserArrived { uid }
        | Change::UserDeparted { uid, .. }
        | Change::NickChanged { uid, .. }
        | Change::AwayChanged { uid }
        | Change::RealnameChanged { uid }
        | Change::HostChanged { uid, .. }
        | Change::AccountChanged { uid }
        | Change::UserModeChanged { uid, .. }
        | Change::Joined { uid, .. }
        | Change::Left { uid, .. }
        | Change::PrefixChanged { uid, .. } => Some(*uid),
        _ => None,
    }
}
