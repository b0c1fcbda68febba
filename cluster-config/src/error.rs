//! The one error type of this crate.
//!
//! An operator fixing a config needs three things: which file, which key, and what is wrong with it.
//! Every failure (unreadable file, TOML syntax, unknown key, bad value, failed validation) is reported
//! in that shape so the node can print it as one line and exit.

use std::path::{Path, PathBuf};

/// A configuration problem, pinned to a file and a dotted key path such as
/// `tenants[1].listeners[0].address`.
///
/// `key` is empty for whole-file problems (the file cannot be read, or the TOML does not parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    /// The config file the problem is in (the `origin` given to the parser for in-memory text).
    pub file: PathBuf,
    /// Dotted path of the offending key, empty when the problem concerns the whole file.
    pub key: String,
    /// What is wrong, in words an operator can act on.
    pub reason: String,
}

impl ConfigError {
    /// Builds an error; a shorthand so call sites stay one line.
    pub fn new(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_key_and_reason() {
        let err = ConfigError::new(
            Path::new("etc/latticed.toml"),
            "node.id",
            "must be between 1 and 999, got 0",
        );
        assert_eq!(
            err.to_string(),
            "etc/latticed.toml: node.id: must be between 1 and 999, got 0"
        );
    }
}
