//! Validation of a resolved [`Config`]: the rules serde cannot express.
//!
//! Checks run in file order (node, admin, each tenant top to bottom, then the cluster section) and stop
//! at the first problem, which is reported with its dotted key path.

mod cluster;
mod listeners;
mod text;

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;

use crate::config::Config;
use crate::connection::ConnectionConfig;
use crate::error::ConfigError;
use crate::flood::FloodConfig;
use crate::limits::Limits;
use crate::oper::OperConfig;
use crate::tenant::{AdminInfo, TenantConfig};

use listeners::BoundAddresses;

/// Longest node description and ADMIN line.
const MAX_INFO_LINE: usize = 200;
/// Longest MOTD line: room for `:server 372 nick :- ` within 512 bytes with long names.
const MAX_MOTD_LINE: usize = 350;
/// Most MOTD lines; each is a reply every client receives on connect.
const MAX_MOTD_LINES: usize = 1000;

/// Validates the whole config; see the module docs.
pub(crate) fn config(config: &Config, origin: &Path) -> Result<(), ConfigError> {
    let check = Checker { origin };
    check.node(config)?;
    let mut bound = BoundAddresses::default();
    check.at(
        "admin.listen",
        bound.claim("admin.listen".to_owned(), config.admin.listen),
    )?;
    if let Some(token) = &config.admin.token {
        check.at("admin.token", text::admin_token(token))?;
    }
    if config.tenants.is_empty() {
        return Err(check.error("tenants", "at least one tenant is required"));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (index, tenant) in config.tenants.iter().enumerate() {
        let key = format!("tenants[{index}]");
        if let Some(first) = names.insert(&tenant.name, index) {
            return Err(check.error(
                format!("{key}.name"),
                format!(
                    "tenant name {:?} is already used by tenants[{first}]",
                    tenant.name
                ),
            ));
        }
        check.tenant(&key, tenant, &mut bound)?;
    }
    match &config.cluster {
        Some(cluster) => check.cluster(cluster, &config.node),
        None => Ok(()),
    }
}

/// Turns rule failures into [`ConfigError`]s against one origin file.
struct Checker<'a> {
    origin: &'a Path,
}

impl Checker<'_> {
    fn error(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.origin, key, reason)
    }

    fn at(&self, key: &str, rule: Result<(), String>) -> Result<(), ConfigError> {
        rule.map_err(|reason| self.error(key, reason))
    }

    fn range<T: PartialOrd + Display>(
        &self,
        key: &str,
        value: T,
        allowed: RangeInclusive<T>,
    ) -> Result<(), ConfigError> {
        if allowed.contains(&value) {
            return Ok(());
        }
        Err(self.error(
            key,
            format!(
                "must be between {} and {}, got {value}",
                allowed.start(),
                allowed.end()
            ),
        ))
    }

    fn node(&self, config: &Config) -> Result<(), ConfigError> {
        self.range("node.id", config.node.id, 1..=999)?;
        self.range(
            "node.flush_interval_ms",
            config.node.flush_interval_ms,
            1..=10_000,
        )?;
        self.range(
            "node.snapshot_every_ops",
            config.node.snapshot_every_ops,
            10..=100_000_000,
        )?;
        self.range("node.worker_threads", config.node.worker_threads, 1..=256)?;
        self.at("node.name", text::server_name(&config.node.name))?;
        self.at(
            "node.description",
            text::line(&config.node.description, MAX_INFO_LINE),
        )
    }

    fn tenant(
        &self,
        key: &str,
        tenant: &TenantConfig,
        bound: &mut BoundAddresses,
    ) -> Result<(), ConfigError> {
        self.at(&format!("{key}.name"), text::tenant_name(&tenant.name))?;
        self.at(&format!("{key}.network"), text::network(&tenant.network))?;
        if let Some(name) = &tenant.server_name {
            self.at(&format!("{key}.server_name"), text::server_name(name))?;
        }
        if tenant.listeners.is_empty() {
            return Err(self.error(
                format!("{key}.listeners"),
                "a tenant needs at least one listener",
            ));
        }
        for (index, listener) in tenant.listeners.iter().enumerate() {
            let key = format!("{key}.listeners[{index}]");
            let address_key = format!("{key}.address");
            self.at(
                &address_key,
                bound.claim(address_key.clone(), listener.address),
            )?;
            if let Some(tls) = &listener.tls {
                self.at(
                    &format!("{key}.tls.cert"),
                    listeners::tls_file(&tls.cert, "TLS certificate"),
                )?;
                self.at(
                    &format!("{key}.tls.key"),
                    listeners::tls_file(&tls.key, "TLS key"),
                )?;
            }
        }
        self.motd(key, &tenant.motd)?;
        self.admin_info(&format!("{key}.admin_info"), &tenant.admin_info)?;
        self.limits(&format!("{key}.limits"), &tenant.limits)?;
        self.flood(&format!("{key}.flood"), &tenant.flood)?;
        self.connection(&format!("{key}.connection"), &tenant.connection)?;
        self.range(
            &format!("{key}.history.retention_days"),
            tenant.history.retention_days,
            1..=36_500,
        )?;
        self.range(
            &format!("{key}.history.max_query"),
            tenant.history.max_query,
            1..=1000,
        )?;
        self.opers(key, &tenant.opers)
    }

    fn motd(&self, key: &str, motd: &[String]) -> Result<(), ConfigError> {
        if motd.len() > MAX_MOTD_LINES {
            return Err(self.error(
                format!("{key}.motd"),
                format!(
                    "has {} lines; at most {MAX_MOTD_LINES} are allowed",
                    motd.len()
                ),
            ));
        }
        for (index, line) in motd.iter().enumerate() {
            self.at(
                &format!("{key}.motd[{index}]"),
                text::line(line, MAX_MOTD_LINE),
            )?;
        }
        Ok(())
    }

    fn admin_info(&self, key: &str, info: &AdminInfo) -> Result<(), ConfigError> {
        for (field, value) in [
            ("location1", &info.location1),
            ("location2", &info.location2),
            ("email", &info.email),
        ] {
            self.at(&format!("{key}.{field}"), text::line(value, MAX_INFO_LINE))?;
        }
        Ok(())
    }

    fn limits(&self, key: &str, limits: &Limits) -> Result<(), ConfigError> {
        let ranges = [
            ("nick_len", limits.nick_len, 9..=64),
            ("channel_len", limits.channel_len, 8..=128),
            ("topic_len", limits.topic_len, 1..=390),
            ("kick_len", limits.kick_len, 1..=390),
            ("away_len", limits.away_len, 1..=390),
            ("realname_len", limits.realname_len, 1..=390),
            ("user_len", limits.user_len, 1..=64),
            (
                "max_channels_per_user",
                limits.max_channels_per_user,
                1..=10_000,
            ),
            ("max_list_entries", limits.max_list_entries, 1..=10_000),
            ("max_monitor", limits.max_monitor, 1..=10_000),
            ("max_targets", limits.max_targets, 1..=32),
            ("max_whowas", limits.max_whowas, 1..=64),
            (
                "whowas_entries",
                limits.whowas_entries,
                limits.max_whowas..=1_000_000,
            ),
        ];
        for (field, value, allowed) in ranges {
            self.range(&format!("{key}.{field}"), value, allowed)?;
        }
        Ok(())
    }

    fn flood(&self, key: &str, flood: &FloodConfig) -> Result<(), ConfigError> {
        self.range(&format!("{key}.burst"), flood.burst, 1..=1000)?;
        if !(flood.per_second > 0.0 && flood.per_second <= 1000.0) {
            return Err(self.error(
                format!("{key}.per_second"),
                format!("must be above 0 and at most 1000, got {}", flood.per_second),
            ));
        }
        self.range(
            &format!("{key}.max_connections_per_ip"),
            flood.max_connections_per_ip,
            1..=100_000,
        )?;
        self.range(
            &format!("{key}.excess_disconnect_lines"),
            flood.excess_disconnect_lines,
            1..=10_000,
        )
    }

    fn connection(&self, key: &str, connection: &ConnectionConfig) -> Result<(), ConfigError> {
        self.range(
            &format!("{key}.sendq_bytes"),
            connection.sendq_bytes,
            8192..=64 * 1024 * 1024,
        )?;
        self.range(
            &format!("{key}.registration_timeout_secs"),
            connection.registration_timeout_secs,
            5..=600,
        )?;
        self.range(
            &format!("{key}.ping_interval_secs"),
            connection.ping_interval_secs,
            10..=3600,
        )?;
        self.range(
            &format!("{key}.ping_timeout_secs"),
            connection.ping_timeout_secs,
            5..=3600,
        )
    }

    fn opers(&self, key: &str, opers: &[OperConfig]) -> Result<(), ConfigError> {
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (index, oper) in opers.iter().enumerate() {
            let key = format!("{key}.opers[{index}]");
            self.at(&format!("{key}.name"), text::oper_name(&oper.name))?;
            if let Some(first) = names.insert(&oper.name, index) {
                return Err(self.error(
                    format!("{key}.name"),
                    format!(
                        "oper name {:?} is already used by opers[{first}] of this tenant",
                        oper.name
                    ),
                ));
            }
            self.at(
                &format!("{key}.password"),
                text::oper_password(&oper.password),
            )?;
            if oper.hosts.is_empty() {
                return Err(self.error(
                    format!("{key}.hosts"),
                    "is empty, so nobody could use this oper block; use [\"*@*\"] for any host",
                ));
            }
            for (host_index, mask) in oper.hosts.iter().enumerate() {
                self.at(&format!("{key}.hosts[{host_index}]"), text::host_mask(mask))?;
            }
        }
        Ok(())
    }
}
