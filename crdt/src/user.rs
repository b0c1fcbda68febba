//! Users: the replicated record of one user and the view clients see of it.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::ids::Uid;
use crate::lww::LwwRegister;
use crate::nick::NickHistory;
use crate::sorted::{SortedMap, SortedSet};

/// Text of a user shared by its record and its view: the view clones a reference count, not the
/// string, so a live user's names are allocated once. Serialized as a string.
pub type Text = Arc<str>;

/// What clients see of a live user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The user's id.
    pub uid: Uid,
    /// Effective nick: the claimed nick if this user holds it, else the uid's display form.
    pub nick: Text,
    /// The nick this user claims (differs from `nick` while it loses a collision).
    pub claimed_nick: Text,
    /// Username.
    pub user: Text,
    /// Host.
    pub host: Text,
    /// Realname.
    pub realname: Text,
    /// Address the user connected from.
    pub ip: Text,
    /// Logged-in account.
    pub account: Option<Text>,
    /// Away message.
    pub away: Option<Text>,
    /// User mode letters set.
    pub modes: BTreeSet<char>,
    /// Wall time of the arrival (Unix milliseconds).
    pub arrived_ms: u64,
    /// Wall time of the op that claimed the current nick (a case-only change keeps it).
    pub nick_ms: u64,
}

/// The replicated record of one uid: everything ops said about it, whatever order they came in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum UserRec {
    /// Not departed (maybe not arrived yet either).
    Live(Box<LiveUser>),
    /// Departed: final, and everything else about it is forgotten.
    Departed,
}

/// The record of a user that has not departed. Its text is [`Text`] (two words, not three, and
/// shared with the view): every live user of the network has one. Serialized as strings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LiveUser {
    /// From the UserArrive op, once it arrived.
    pub arrival: Option<Arrival>,
    /// Every nick claim seen.
    pub nicks: NickHistory,
    /// Username and host, written together.
    pub ident: LwwRegister<(Text, Text)>,
    pub realname: LwwRegister<Text>,
    pub account: LwwRegister<Option<Text>>,
    pub away: LwwRegister<Option<Text>>,
    pub modes: SortedMap<char, LwwRegister<bool>>,
    /// Folded names of channels holding any entry (membership or prefix) for this uid.
    pub channels: SortedSet<String>,
}

/// The immutable facts of a user's arrival.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Arrival {
    /// Stamp of the arrive op (the lowest, should a uid arrive twice).
    pub stamp: Stamp,
    pub ip: Text,
    pub wall_ms: u64,
}

impl LiveUser {
    /// The visible user, with its claimed nick as `nick` (the caller applies the collision rule).
    /// `None` until the arrival is known.
    pub fn view(&self, uid: Uid) -> Option<UserView> {
        let arrival = self.arrival.as_ref()?;
        let claim = self.nicks.current()?;
        let (user, host) = self.ident.get();
        Some(UserView {
            uid,
            nick: claim.nick.clone(),
            claimed_nick: claim.nick.clone(),
            user: user.clone(),
            host: host.clone(),
            realname: self.realname.get().clone(),
            ip: arrival.ip.clone(),
            account: self.account.get().clone(),
            away: self.away.get().clone(),
            modes: self
                .modes
                .iter()
                .filter(|(_, on)| *on.get())
                .map(|(m, _)| *m)
                .collect(),
            arrived_ms: arrival.wall_ms,
            nick_ms: claim.wall_ms,
        })
    }

    /// Whether user mode `mode` is set.
    pub fn has_mode(&self, mode: char) -> bool {
        self.modes.get(&mode).is_some_and(|on| *on.get())
    }

    /// The current claim as indexed by the collision rule: folded nick and claim stamp, for a
    /// visible user only.
    pub fn indexed_claim(&self) -> Option<(Text, Stamp)> {
        self.arrival.as_ref()?;
        self.nicks.current().map(|c| (c.folded.clone(), c.stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every live user of the network has one boxed record: at 232 bytes the allocator gives
    /// it a 240-byte chunk (8 bytes of header, 16-byte steps); at the 256 it had with vectors
    /// (three words each) it took 272.
    #[test]
    fn a_live_user_record_stays_small() {
        assert!(
            std::mem::size_of::<LiveUser>() <= 232,
            "LiveUser is {} bytes",
            std::mem::size_of::<LiveUser>()
        );
    }
}
