//! IRC operator accounts: who may use OPER, from where, and what they may do afterwards.

use serde::{Deserialize, Serialize};

/// One operator block. `name` and `password` have no defaults: an operator the config did not name,
/// or one with a guessable password, would be a hole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperConfig {
    /// The first argument of `OPER <name> <password>`; unique within the tenant.
    pub name: String,
    /// The second argument of OPER, compared as plain text (keep the config file private).
    pub password: String,
    /// `user@host` masks (`*` and `?` wildcards) the client must match; any host by default.
    #[serde(default = "any_host")]
    pub hosts: Vec<String>,
    /// What the operator may do once opered; none by default.
    #[serde(default)]
    pub privileges: Vec<OperPrivilege>,
}

fn any_host() -> Vec<String> {
    vec!["*@*".to_owned()]
}

impl OperConfig {
    /// Whether this operator holds `privilege`, so command handlers need not search the list themselves.
    pub fn has(&self, privilege: OperPrivilege) -> bool {
        self.privileges.contains(&privilege)
    }
}

/// A power an operator block can grant. Written in TOML as `"kill"`, `"rehash"`, `"wallops"`,
/// `"see-invisible"`, `"see-secret"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperPrivilege {
    /// Use KILL on users of the tenant.
    Kill,
    /// Use REHASH to reload the configuration.
    Rehash,
    /// Send WALLOPS.
    Wallops,
    /// See invisible (+i) users in WHO, NAMES and WHOIS as if sharing a channel with them.
    SeeInvisible,
    /// See secret (+s) channels in LIST, WHOIS and NAMES.
    SeeSecret,
}

impl OperPrivilege {
    /// Every privilege, for "grant everything" configs and for listing in help text.
    pub const ALL: [OperPrivilege; 5] = [
        Self::Kill,
        Self::Rehash,
        Self::Wallops,
        Self::SeeInvisible,
        Self::SeeSecret,
    ];

    /// The spelling used in the config file, for messages that refer back to it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Rehash => "rehash",
            Self::Wallops => "wallops",
            Self::SeeInvisible => "see-invisible",
            Self::SeeSecret => "see-secret",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        privilege: OperPrivilege,
    }

    #[test]
    fn as_str_matches_the_toml_spelling() {
        for privilege in OperPrivilege::ALL {
            let text = format!("privilege = \"{}\"", privilege.as_str());
            let parsed: Wrapper = toml::from_str(&text).expect("known privilege parses");
            assert_eq!(parsed.privilege, privilege);
        }
    }

    #[test]
    fn has_checks_the_granted_list() {
        let oper = OperConfig {
            name: "alice".to_owned(),
            password: "secret".to_owned(),
            hosts: any_host(),
            privileges: vec![OperPrivilege::Kill],
        };
        assert!(oper.has(OperPrivilege::Kill));
        assert!(!oper.has(OperPrivilege::Rehash));
    }
}
