//! Case mappings: which nicks and channel names count as the same.
//!
//! Every node of a tenant must fold names identically, or the nick-uniqueness rule would
//! pick different winners on different nodes. Both mappings only touch ASCII bytes, so
//! folding never changes a string's byte length and works byte by byte.

/// A `CASEMAPPING` the server can advertise in `RPL_ISUPPORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseMapping {
    /// Only `A-Z` fold to `a-z`.
    Ascii,
    /// `A-Z` and also `[]\~` fold to `a-z` and `{}|^` (Scandinavian heritage of RFC 1459).
    Rfc1459,
}

impl CaseMapping {
    /// The ISUPPORT token value: `ascii` or `rfc1459`.
    pub fn name(self) -> &'static str {
        match self {
            CaseMapping::Ascii => "ascii",
            CaseMapping::Rfc1459 => "rfc1459",
        }
    }

    /// The mapping with this ISUPPORT name (exact, lowercase), for configuration files.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ascii" => Some(CaseMapping::Ascii),
            "rfc1459" => Some(CaseMapping::Rfc1459),
            _ => None,
        }
    }

    /// Folds one byte; bytes of multi-byte UTF-8 sequences are never changed.
    pub fn fold_byte(self, b: u8) -> u8 {
        match (self, b) {
            (_, b'A'..=b'Z') => b.to_ascii_lowercase(),
            (CaseMapping::Rfc1459, b'[') => b'{',
            (CaseMapping::Rfc1459, b']') => b'}',
            (CaseMapping::Rfc1459, b'\\') => b'|',
            (CaseMapping::Rfc1459, b'~') => b'^',
            _ => b,
        }
    }

    /// Folds one char (identity outside ASCII), for matching char by char.
    pub fn fold_char(self, c: char) -> char {
        match u8::try_from(c) {
            Ok(b) if b.is_ascii() => char::from(self.fold_byte(b)),
            _ => c,
        }
    }

    /// The lowercase form under this mapping: the key for maps of nicks and channels.
    pub fn fold(self, s: &str) -> String {
        s.chars().map(|c| self.fold_char(c)).collect()
    }

    /// Whether two names are equal under this mapping, without allocating.
    pub fn eq(self, a: &str, b: &str) -> bool {
        a.len() == b.len()
            && a.bytes()
                .zip(b.bytes())
                .all(|(x, y)| self.fold_byte(x) == self.fold_byte(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cm in [CaseMapping::Ascii, CaseMapping::Rfc1459] {
            assert_eq!(CaseMapping::parse(cm.name()), Some(cm));
        }
        assert_eq!(CaseMapping::parse("RFC1459"), None);
        assert_eq!(CaseMapping::parse("strict-rfc1459"), None);
        assert_eq!(CaseMapping::parse(""), None);
    }

    #[test]
    fn ascii_folds_letters_only() {
        assert_eq!(CaseMapping::Ascii.fold("NiCk[]\\~"), "nick[]\\~");
        assert!(CaseMapping::Ascii.eq("NICK", "nick"));
        assert!(!CaseMapping::Ascii.eq("a[b", "a{b"));
    }

    #[test]
    fn rfc1459_folds_brackets_backslash_and_tilde() {
        assert_eq!(CaseMapping::Rfc1459.fold("NiCk[]\\~"), "nick{}|^");
        assert!(CaseMapping::Rfc1459.eq("A[B]\\~", "a{b}|^"));
        assert!(CaseMapping::Rfc1459.eq("{}|^", "[]\\~"));
        assert!(!CaseMapping::Rfc1459.eq("nick", "nicks"));
        assert!(!CaseMapping::Rfc1459.eq("nick_", "nick-"));
    }

    #[test]
    fn non_ascii_is_untouched() {
        assert_eq!(CaseMapping::Rfc1459.fold("ÉCOLE"), "École");
        assert!(!CaseMapping::Ascii.eq("É", "é"));
        assert!(CaseMapping::Ascii.eq("Éa", "ÉA"));
    }

    #[test]
    fn fold_and_eq_agree() {
        let names = [
            "Nick", "nick", "NICK[", "nick{", "a\\b", "a|b", "x~", "x^", "é", "É",
        ];
        for cm in [CaseMapping::Ascii, CaseMapping::Rfc1459] {
            for a in names {
                for b in names {
                    assert_eq!(cm.eq(a, b), cm.fold(a) == cm.fold(b), "{cm:?} {a} {b}");
                }
            }
        }
    }
}
