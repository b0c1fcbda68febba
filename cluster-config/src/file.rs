//! The config file as written, and its resolution into a [`Config`].
//!
//! The file differs from the resolved config in one place: a tenant's MOTD can be inline text, a list of
//! lines, or a file to read. Resolution reads that file and makes TLS and cluster PEM paths absolute
//! relative to the config file's directory, so the rest of the node never has to know where the config
//! came from.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::cluster::ClusterConfig;
use crate::config::Config;
use crate::connection::ConnectionConfig;
use crate::error::ConfigError;
use crate::flood::FloodConfig;
use crate::history::HistoryConfig;
use crate::limits::Limits;
use crate::node::{AdminConfig, NodeConfig};
use crate::oper::OperConfig;
use crate::tenant::{default_motd, AdminInfo, CaseMappingName, ListenerConfig, TenantConfig};

/// A MOTD file larger than this is refused: it would be sent to every client on connect.
pub(crate) const MAX_MOTD_FILE_BYTES: u64 = 64 * 1024;

/// Top level of the file; missing sections take the built-in defaults.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ConfigFile {
    node: NodeConfig,
    admin: AdminConfig,
    tenants: Vec<TenantFile>,
    cluster: Option<ClusterConfig>,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            node: NodeConfig::default(),
            admin: AdminConfig::default(),
            tenants: vec![TenantFile::default()],
            cluster: None,
        }
    }
}

/// A `[[tenants]]` entry as written: like [`TenantConfig`], but the MOTD is not resolved yet.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TenantFile {
    name: String,
    network: String,
    server_name: Option<String>,
    casemapping: CaseMappingName,
    listeners: Vec<ListenerConfig>,
    motd: Option<MotdText>,
    motd_file: Option<PathBuf>,
    admin_info: AdminInfo,
    limits: Limits,
    flood: FloodConfig,
    connection: ConnectionConfig,
    opers: Vec<OperConfig>,
    history: HistoryConfig,
}

impl Default for TenantFile {
    fn default() -> Self {
        let tenant = TenantConfig::default();
        Self {
            name: tenant.name,
            network: tenant.network,
            server_name: tenant.server_name,
            casemapping: tenant.casemapping,
            listeners: tenant.listeners,
            motd: None,
            motd_file: None,
            admin_info: tenant.admin_info,
            limits: tenant.limits,
            flood: tenant.flood,
            connection: tenant.connection,
            opers: tenant.opers,
            history: tenant.history,
        }
    }
}

/// MOTD lines from either a multi-line string or an array of strings.
struct MotdText(Vec<String>);

impl<'de> Deserialize<'de> for MotdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MotdVisitor)
    }
}

struct MotdVisitor;

impl<'de> Visitor<'de> for MotdVisitor {
    type Value = MotdText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string (one line per line of text) or an array of lines")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<MotdText, E> {
        Ok(MotdText(split_lines(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MotdText, A::Error> {
        let mut lines = Vec::new();
        while let Some(line) = seq.next_element::<String>()? {
            lines.push(line);
        }
        Ok(MotdText(lines))
    }
}

/// Splits text into lines on `\n` (dropping a `\r` before it), without a trailing empty line.
fn split_lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

impl ConfigFile {
    /// Parses TOML text; errors carry the dotted key path and, when known, the line.
    pub(crate) fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|err| ConfigError::new(origin, "", describe(&err, text)))?;
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = key_of(err.path());
            let inner = err.into_inner();
            let key = complete_key(key, inner.message());
            ConfigError::new(origin, key, describe(&inner, text))
        })
    }

    /// Reads MOTD files and makes TLS and cluster PEM paths absolute, relative to `base_dir` (the config
    /// file's directory).
    pub(crate) fn resolve(self, base_dir: &Path, origin: &Path) -> Result<Config, ConfigError> {
        let tenants = self
            .tenants
            .into_iter()
            .enumerate()
            .map(|(index, tenant)| tenant.resolve(index, base_dir, origin))
            .collect::<Result<_, _>>()?;
        let cluster = self.cluster.map(|mut cluster| {
            for path in [&mut cluster.ca, &mut cluster.cert, &mut cluster.key] {
                *path = base_dir.join(&*path);
            }
            cluster
        });
        Ok(Config {
            node: self.node,
            admin: self.admin,
            tenants,
            cluster,
        })
    }
}

impl TenantFile {
    fn resolve(
        self,
        index: usize,
        base_dir: &Path,
        origin: &Path,
    ) -> Result<TenantConfig, ConfigError> {
        let motd = match (self.motd, self.motd_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    origin,
                    format!("tenants[{index}].motd_file"),
                    "set either `motd` or `motd_file`, not both",
                ))
            }
            (Some(MotdText(lines)), None) => lines,
            (None, Some(path)) => read_motd(&base_dir.join(path)).map_err(|reason| {
                ConfigError::new(origin, format!("tenants[{index}].motd_file"), reason)
            })?,
            (None, None) => default_motd(),
        };
        let listeners = self
            .listeners
            .into_iter()
            .map(|mut listener| {
                if let Some(tls) = listener.tls.as_mut() {
                    tls.cert = base_dir.join(&tls.cert);
                    tls.key = base_dir.join(&tls.key);
                }
                listener
            })
            .collect();
        Ok(TenantConfig {
            name: self.name,
            network: self.network,
            server_name: self.server_name,
            casemapping: self.casemapping,
            listeners,
            motd,
            admin_info: self.admin_info,
            limits: self.limits,
            flood: self.flood,
            connection: self.connection,
            opers: self.opers,
            history: self.history,
        })
    }
}

/// Reads a MOTD file as UTF-8 lines, refusing files over [`MAX_MOTD_FILE_BYTES`].
fn read_motd(path: &Path) -> Result<Vec<String>, String> {
    let text = read_bounded(path, MAX_MOTD_FILE_BYTES)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    Ok(split_lines(&text))
}

/// Reads a UTF-8 file of at most `max` bytes without ever holding more than `max + 1` bytes of it.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(max.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {max} bytes"),
        ));
    }
    Ok(text)
}

/// The dotted key path of a serde error; `serde_path_to_error` writes the empty path as `.`.
fn key_of(path: &serde_path_to_error::Path) -> String {
    let key = path.to_string();
    if key == "." {
        String::new()
    } else {
        key
    }
}

/// For "unknown field `x`" and "missing field `x`" the path stops at the enclosing table; the operator
/// wants the field itself, so it is appended.
fn complete_key(key: String, message: &str) -> String {
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match field {
        Some(field) if key.ends_with(&format!(".{field}")) || key == field => key,
        Some(field) if key.is_empty() => field.to_owned(),
        Some(field) => format!("{key}.{field}"),
        None => key,
    }
}

/// The TOML error's message with the line and column it points at.
fn describe(err: &toml::de::Error, text: &str) -> String {
    match err.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!(
                "{} (line {line}, column {column})",
                err.message().trim_end()
            )
        }
        None => err.message().trim_end().to_owned(),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motd_text_splits_lines_without_a_trailing_empty_one() {
        assert_eq!(split_lines("one\ntwo\r\nthree\n"), ["one", "two", "three"]);
        assert_eq!(split_lines("a\n\nb"), ["a", "", "b"]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn complete_key_appends_the_named_field_once() {
        assert_eq!(
            complete_key(
                "tenants[0].limits".into(),
                "unknown field `nick_lenn`, expected"
            ),
            "tenants[0].limits.nick_lenn"
        );
        assert_eq!(
            complete_key(
                "tenants[0].limits.nick_lenn".into(),
                "unknown field `nick_lenn`"
            ),
            "tenants[0].limits.nick_lenn"
        );
        assert_eq!(
            complete_key(String::new(), "unknown field `nodes`"),
            "nodes"
        );
        assert_eq!(
            complete_key("node.id".into(), "invalid type: string"),
            "node.id"
        );
    }

    #[test]
    fn line_and_column_count_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, text.find('=').unwrap_or(0)), (1, 3));
        assert_eq!(line_and_column(text, 9), (2, 3));
        assert_eq!(line_and_column(text, 8), (2, 2));
        assert_eq!(line_and_column(text, 1000), (3, 1));
    }
}
