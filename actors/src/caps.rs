//! IRCv3 client capabilities the server offers, as a compact bit set.
//!
//! A bit set (not a set of strings) because every delivery checks a recipient's capabilities:
//! the check must be a mask test, and the per-variant serialisation cache is indexed by a few of these bits.

/// One capability the server advertises in `CAP LS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Name as it appears on the wire.
    pub name: &'static str,
    /// The bit in [`Caps`].
    pub bit: u32,
}

macro_rules! caps {
    ($($konst:ident = $name:literal),* $(,)?) => {
        caps!(@bits 0u32; $($konst = $name,)*);
        /// Every capability offered, in the order `CAP LS` lists them.
        pub const ALL: &[Cap] = &[$(Cap { name: $name, bit: Caps::$konst.0 }),*];
    };
    (@bits $n:expr; $konst:ident = $name:literal, $($rest:tt)*) => {
        impl Caps {
            #[doc = concat!("The `", $name, "` capability.")]
            pub const $konst: Caps = Caps(1 << $n);
        }
        caps!(@bits $n + 1; $($rest)*);
    };
    (@bits $n:expr;) => {};
}

/// A set of capabilities enabled on one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Caps(pub u32);

caps! {
    ACCOUNT_NOTIFY = "account-notify",
    ACCOUNT_TAG = "account-tag",
    AWAY_NOTIFY = "away-notify",
    BATCH = "batch",
    CAP_NOTIFY = "cap-notify",
    CHATHISTORY = "draft/chathistory",
    CHGHOST = "chghost",
    ECHO_MESSAGE = "echo-message",
    EXTENDED_JOIN = "extended-join",
    EXTENDED_MONITOR = "extended-monitor",
    INVITE_NOTIFY = "invite-notify",
    LABELED_RESPONSE = "labeled-response",
    MESSAGE_TAGS = "message-tags",
    MULTI_PREFIX = "multi-prefix",
    SERVER_TIME = "server-time",
    SETNAME = "setname",
    STANDARD_REPLIES = "standard-replies",
    USERHOST_IN_NAMES = "userhost-in-names",
}

impl Caps {
    /// Whether every capability in `other` is enabled.
    pub fn has(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    /// Enable or disable the capabilities in `other`.
    pub fn set(&mut self, other: Caps, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }

    /// Look a capability up by its wire name.
    pub fn by_name(name: &str) -> Option<Caps> {
        ALL.iter().find(|c| c.name == name).map(|c| Caps(c.bit))
    }

    /// Names of the enabled capabilities, in `CAP LS` order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ALL.iter()
            .filter(move |c| self.0 & c.bit != 0)
            .map(|c| c.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_distinct_and_lookup_round_trips() {
        let mut seen = 0u32;
        for cap in ALL {
            assert_eq!(seen & cap.bit, 0, "{} shares a bit", cap.name);
            seen |= cap.bit;
            assert_eq!(Caps::by_name(cap.name), Some(Caps(cap.bit)));
        }
        assert_eq!(Caps::by_name("sasl"), None);
    }

    #[test]
    fn set_and_names() {
        let mut caps = Caps::default();
        caps.set(Caps::SERVER_TIME, true);
        caps.set(Caps::ECHO_MESSAGE, true);
        caps.set(Caps::ECHO_MESSAGE, false);
        assert!(caps.has(Caps::SERVER_TIME));
        assert!(!caps.has(Caps::ECHO_MESSAGE));
        assert_eq!(caps.names().collect::<Vec<_>>(), vec!["server-time"]);
    }
}
