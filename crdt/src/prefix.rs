//! Prefix modes of channel members (`o`, `v`) and their symbols.

use serde::{Deserialize, Serialize};

/// The prefix modes this network knows, highest rank first, with their NAMES/WHO symbols. The
/// node builds ISUPPORT `PREFIX` from it.
pub const PREFIX_MODES: [(char, char); 2] = [('o', '@'), ('v', '+')];

/// Whether `mode` is a prefix mode.
pub fn is_prefix_mode(mode: char) -> bool {
    PREFIX_MODES.iter().any(|(m, _)| *m == mode)
}

/// The set of prefix modes one member has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prefixes {
    /// Bit `i` set = `PREFIX_MODES[i]` held.
    bits: u8,
}

impl Prefixes {
    /// No prefix.
    pub const NONE: Prefixes = Prefixes { bits: 0 };

    /// Prefixes holding exactly the prefix modes among `modes`; other letters are ignored.
    pub fn from_modes(modes: impl IntoIterator<Item = char>) -> Prefixes {
        let mut p = Prefixes::NONE;
        for mode in modes {
            if let Some(i) = PREFIX_MODES.iter().position(|(m, _)| *m == mode) {
                p.bits |= 1 << i;
            }
        }
        p
    }

    /// Whether the member has prefix mode `mode`.
    pub fn has(&self, mode: char) -> bool {
        PREFIX_MODES
            .iter()
            .position(|(m, _)| *m == mode)
            .is_some_and(|i| self.bits & (1 << i) != 0)
    }

    /// Whether the member has no prefix at all.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The symbol of the highest prefix held (`@` for o, `+` for v): what plain NAMES shows.
    pub fn highest_symbol(&self) -> Option<char> {
        self.held().map(|(_, s)| s).next()
    }

    /// Every held symbol in rank order, e.g. `"@+"`: what NAMES shows with `multi-prefix`.
    pub fn all_symbols(&self) -> String {
        self.held().map(|(_, s)| s).collect()
    }

    /// Every held mode letter in rank order, e.g. `"ov"`.
    pub fn modes(&self) -> String {
        self.held().map(|(m, _)| m).collect()
    }

    fn held(&self) -> impl Iterator<Item = (char, char)> + '_ {
        PREFIX_MODES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.bits & (1 << i) != 0)
            .map(|(_, pair)| *pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_in_rank_order() {
        let both = Prefixes::from_modes(['v', 'o', 'x']);
        assert!(both.has('o') && both.has('v') && !both.has('x'));
        assert_eq!(both.highest_symbol(), Some('@'));
        assert_eq!(both.all_symbols(), "@+");
        assert_eq!(both.modes(), "ov");
        let voice = Prefixes::from_modes(['v']);
        assert_eq!(voice.highest_symbol(), Some('+'));
        assert_eq!(Prefixes::NONE.highest_symbol(), None);
        assert!(Prefixes::NONE.is_empty());
        assert!(is_prefix_mode('o') && !is_prefix_mode('b'));
    }
}
