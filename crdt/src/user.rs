//! Users: the replicated record of one user and the view clients see of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::ids::Uid;
use crate::lww::LwwRegister;
use crate::nick::NickHistory;

/// What clients see of a live user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The user's id.
    pub uid: Uid,
    /// Effective nick: the claimed nick if this user holds it, else the uid's display form.
    pub nick: String,
    /// The nick this user claims (differs from `nick` while it loses a collision).
    pub claimed_nick: String,
    /// Username.
    pub user: String,
    /// Host.
    pub host: String,
    /// Realname.
    pub realname: String,
    /// Address the user connected from.
    pub ip: String,
    /// Logged-in account.
    pub account: Option<String>,
    /// Away message.
    pub away: Option<String>,
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

/// The record of a user that has not departed. Its text is boxed (`Box<str>`, two words, not
/// three): every live user of the network has one. Serialized as strings, like `String`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LiveUser {
    /// From the UserArrive op, once it arrived.
    pub arrival: Option<Arrival>,
    /// Every nick claim seen.
    pub nicks: NickHistory,
    /// Username and host, written together.
    pub ident: LwwRegister<(Box<str>, Box<str>)>,
    pub realname: LwwRegister<Box<str>>,
    pub account: LwwRegister<Option<Box<str>>>,
    pub away: LwwRegister<Option<Box<str>>>,
    pub modes: BTreeMap<char, LwwRegister<bool>>,
    /// Folded names of channels holding any entry (membership or prefix) for this uid.
    pub channels: BTreeSet<String>,
}

/// The immutable facts of a user's arrival.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Arrival {
    /// Stamp of the arrive op (the lowest, should a uid arrive twice).
    pub stamp: Stamp,
    pub ip: Box<str>,
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
            nick: claim.nick.to_owned(),
            claimed_nick: claim.nick.to_owned(),
            user: user.to_string(),
            host: host.to_string(),
            realname: self.realname.get().to_string(),
            ip: arrival.ip.to_string(),
            account: self.account.get().as_deref().map(str::to_owned),
            away: self.away.get().as_deref().map(str::to_owned),
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

    /// The current claim as indexed by the collision rule: folded nick and claim stamp, for a
    /// visible user only.
    pub fn indexed_claim(&self) -> Option<(String, Stamp)> {
        self.arrival.as_ref()?;
        self.nicks.current().map(|c| (c.folded.to_owned(), c.stamp))
    }
}
