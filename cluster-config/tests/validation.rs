//! Every validation rule, checked on configs built in code: each failure names the file, the key path
//! and a reason an operator can act on.

use std::path::Path;

use latticed_config::{Config, ConfigError, ListenerConfig, OperConfig, TenantConfig, TlsFiles};

const ORIGIN: &str = "conf/latticed.toml";

fn rejected(config: &Config) -> ConfigError {
    let err = config
        .validate(Path::new(ORIGIN))
        .expect_err("config should be rejected");
    assert_eq!(err.file, Path::new(ORIGIN), "{err}");
    err
}

/// Asserts the config fails at `key` with a reason containing `reason`.
fn assert_rejected(config: &Config, key: &str, reason: &str) {
    let err = rejected(config);
    assert_eq!(err.key, key, "{err}");
    assert!(err.reason.contains(reason), "expected {reason:?} in: {err}");
}

fn with_tenant(edit: impl FnOnce(&mut TenantConfig)) -> Config {
    let mut config = Config::default();
    edit(&mut config.tenants[0]);
    config
}

fn second_tenant(name: &str, address: &str) -> TenantConfig {
    TenantConfig {
        name: name.to_owned(),
        listeners: vec![ListenerConfig {
            address: address.parse().expect("test address"),
            tls: None,
        }],
        ..TenantConfig::default()
    }
}

fn oper(name: &str, password: &str) -> OperConfig {
    OperConfig {
        name: name.to_owned(),
        password: password.to_owned(),
        hosts: vec!["*@*".to_owned()],
        privileges: Vec::new(),
    }
}

#[test]
fn the_default_config_is_valid() {
    assert_eq!(Config::default().validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn node_id_must_be_in_range() {
    for id in [0, 1000] {
        let mut config = Config::default();
        config.node.id = id;
        assert_rejected(
            &config,
            "node.id",
            &format!("must be between 1 and 999, got {id}"),
        );
    }
}

#[test]
fn node_name_must_look_like_a_hostname() {
    let mut config = Config::default();
    config.node.name = "localhost".to_owned();
    assert_rejected(
        &config,
        "node.name",
        "\"localhost\" is not a valid server name: it needs at least one `.`",
    );
}

#[test]
fn node_description_must_be_one_line() {
    let mut config = Config::default();
    config.node.description = "two\nlines".to_owned();
    assert_rejected(&config, "node.description", "cannot be sent on an IRC line");
}

#[test]
fn admin_token_must_be_long_enough() {
    let mut config = Config::default();
    config.admin.token = Some("hunter2".to_owned());
    assert_rejected(&config, "admin.token", "must be 16 to 256 printable ASCII");
}

#[test]
fn admin_address_cannot_be_a_client_listener() {
    let mut config = Config::default();
    config.admin.listen = "127.0.0.1:6667".parse().expect("addr");
    assert_rejected(
        &config,
        "tenants[0].listeners[0].address",
        "127.0.0.1:6667 is already used by admin.listen",
    );
}

#[test]
fn at_least_one_tenant_is_required() {
    let mut config = Config::default();
    config.tenants.clear();
    assert_rejected(&config, "tenants", "at least one tenant is required");
}

#[test]
fn tenant_names_must_be_unique() {
    let mut config = Config::default();
    config
        .tenants
        .push(second_tenant("default", "127.0.0.1:7000"));
    assert_rejected(
        &config,
        "tenants[1].name",
        "tenant name \"default\" is already used by tenants[0]",
    );
}

#[test]
fn tenant_name_syntax_is_checked() {
    let config = with_tenant(|t| t.name = "My Tenant".to_owned());
    assert_rejected(
        &config,
        "tenants[0].name",
        "\"My Tenant\" is not a valid tenant name",
    );
}

#[test]
fn network_name_cannot_contain_spaces() {
    let config = with_tenant(|t| t.network = "My Network".to_owned());
    assert_rejected(&config, "tenants[0].network", "it contains a space");
}

#[test]
fn tenant_server_name_is_checked() {
    let config = with_tenant(|t| t.server_name = Some("my_server".to_owned()));
    assert_rejected(
        &config,
        "tenants[0].server_name",
        "\"my_server\" is not a valid server name",
    );
}

#[test]
fn a_tenant_needs_a_listener() {
    let config = with_tenant(|t| t.listeners.clear());
    assert_rejected(
        &config,
        "tenants[0].listeners",
        "a tenant needs at least one listener",
    );
}

#[test]
fn listener_addresses_are_unique_across_tenants() {
    let mut config = Config::default();
    config
        .tenants
        .push(second_tenant("other", "127.0.0.1:6667"));
    assert_rejected(
        &config,
        "tenants[1].listeners[0].address",
        "127.0.0.1:6667 is already used by tenants[0].listeners[0].address",
    );
}

#[test]
fn listener_addresses_are_unique_within_a_tenant() {
    let config = with_tenant(|t| {
        let first = t.listeners[0].clone();
        t.listeners.push(first);
    });
    assert_rejected(
        &config,
        "tenants[0].listeners[1].address",
        "is already used by tenants[0].listeners[0].address",
    );
}

#[test]
fn a_wildcard_listener_clashes_with_a_specific_one_on_the_same_port() {
    let mut config = Config::default();
    config.tenants.push(second_tenant("other", "0.0.0.0:6667"));
    assert_rejected(
        &config,
        "tenants[1].listeners[0].address",
        "0.0.0.0:6667 overlaps 127.0.0.1:6667 (used by tenants[0].listeners[0].address)",
    );
}

#[test]
fn port_zero_listeners_may_repeat() {
    let mut config = with_tenant(|t| t.listeners[0].address = "127.0.0.1:0".parse().expect("addr"));
    config.tenants.push(second_tenant("other", "127.0.0.1:0"));
    assert_eq!(config.validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn tls_files_must_exist() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let existing = manifest.join("Cargo.toml");
    let missing = manifest.join("missing-cert.pem");

    let config = with_tenant(|t| {
        t.listeners[0].tls = Some(TlsFiles {
            cert: missing.clone(),
            key: existing.clone(),
        })
    });
    assert_rejected(
        &config,
        "tenants[0].listeners[0].tls.cert",
        &format!("cannot use TLS certificate {}", missing.display()),
    );

    let config = with_tenant(|t| {
        t.listeners[0].tls = Some(TlsFiles {
            cert: existing.clone(),
            key: missing.clone(),
        })
    });
    assert_rejected(
        &config,
        "tenants[0].listeners[0].tls.key",
        &format!("cannot use TLS key {}", missing.display()),
    );

    let config = with_tenant(|t| {
        t.listeners[0].tls = Some(TlsFiles {
            cert: existing.clone(),
            key: existing.clone(),
        })
    });
    assert_eq!(config.validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn motd_lines_must_be_sendable() {
    let config = with_tenant(|t| t.motd = vec!["fine".to_owned(), "bad\rline".to_owned()]);
    assert_rejected(&config, "tenants[0].motd[1]", "contains '\\r'");

    let config = with_tenant(|t| t.motd = vec!["x".repeat(351)]);
    assert_rejected(
        &config,
        "tenants[0].motd[0]",
        "is 351 bytes long; at most 350",
    );

    let config = with_tenant(|t| t.motd = vec![String::new(); 1001]);
    assert_rejected(&config, "tenants[0].motd", "has 1001 lines; at most 1000");
}

#[test]
fn admin_info_lines_must_be_sendable() {
    let config = with_tenant(|t| t.admin_info.email = "a@b\nc".to_owned());
    assert_rejected(
        &config,
        "tenants[0].admin_info.email",
        "cannot be sent on an IRC line",
    );
    let config = with_tenant(|t| t.admin_info.location2 = "l".repeat(201));
    assert_rejected(
        &config,
        "tenants[0].admin_info.location2",
        "is 201 bytes long; at most 200",
    );
}

#[test]
fn every_limit_is_range_checked() {
    type Field = fn(&mut latticed_config::Limits) -> &mut usize;
    let fields: [(&str, Field, usize, usize); 12] = [
        ("nick_len", |l| &mut l.nick_len, 9, 64),
        ("channel_len", |l| &mut l.channel_len, 8, 128),
        ("topic_len", |l| &mut l.topic_len, 1, 390),
        ("kick_len", |l| &mut l.kick_len, 1, 390),
        ("away_len", |l| &mut l.away_len, 1, 390),
        ("realname_len", |l| &mut l.realname_len, 1, 390),
        ("user_len", |l| &mut l.user_len, 1, 64),
        (
            "max_channels_per_user",
            |l| &mut l.max_channels_per_user,
            1,
            10_000,
        ),
        ("max_list_entries", |l| &mut l.max_list_entries, 1, 10_000),
        ("max_monitor", |l| &mut l.max_monitor, 1, 10_000),
        ("max_targets", |l| &mut l.max_targets, 1, 32),
        ("max_whowas", |l| &mut l.max_whowas, 1, 64),
    ];
    for (name, field, min, max) in fields {
        for value in [min - 1, max + 1] {
            let config = with_tenant(|t| *field(&mut t.limits) = value);
            assert_rejected(
                &config,
                &format!("tenants[0].limits.{name}"),
                &format!("must be between {min} and {max}, got {value}"),
            );
        }
        for value in [min, max] {
            let config = with_tenant(|t| {
                t.limits.whowas_entries = 1000;
                *field(&mut t.limits) = value;
            });
            assert_eq!(
                config.validate(Path::new(ORIGIN)),
                Ok(()),
                "{name} = {value}"
            );
        }
    }
}

#[test]
fn whowas_total_must_hold_at_least_one_nicks_history() {
    let config = with_tenant(|t| {
        t.limits.max_whowas = 8;
        t.limits.whowas_entries = 5;
    });
    assert_rejected(
        &config,
        "tenants[0].limits.whowas_entries",
        "must be between 8 and 1000000, got 5",
    );
}

#[test]
fn flood_settings_are_range_checked() {
    let config = with_tenant(|t| t.flood.burst = 0);
    assert_rejected(
        &config,
        "tenants[0].flood.burst",
        "must be between 1 and 1000, got 0",
    );
    for rate in [0.0, -1.0, 1000.5, f64::NAN, f64::INFINITY] {
        let config = with_tenant(|t| t.flood.per_second = rate);
        assert_rejected(
            &config,
            "tenants[0].flood.per_second",
            "must be above 0 and at most 1000",
        );
    }
    let config = with_tenant(|t| t.flood.max_connections_per_ip = 0);
    assert_rejected(
        &config,
        "tenants[0].flood.max_connections_per_ip",
        "must be between 1 and 100000, got 0",
    );
    let config = with_tenant(|t| t.flood.excess_disconnect_lines = 10_001);
    assert_rejected(
        &config,
        "tenants[0].flood.excess_disconnect_lines",
        "must be between 1 and 10000, got 10001",
    );
}

#[test]
fn connection_settings_are_range_checked() {
    let config = with_tenant(|t| t.connection.sendq_bytes = 8191);
    assert_rejected(
        &config,
        "tenants[0].connection.sendq_bytes",
        "must be between 8192 and 67108864, got 8191",
    );
    let config = with_tenant(|t| t.connection.registration_timeout_secs = 4);
    assert_rejected(
        &config,
        "tenants[0].connection.registration_timeout_secs",
        "must be between 5 and 600, got 4",
    );
    let config = with_tenant(|t| t.connection.ping_interval_secs = 9);
    assert_rejected(
        &config,
        "tenants[0].connection.ping_interval_secs",
        "must be between 10 and 3600, got 9",
    );
    let config = with_tenant(|t| t.connection.ping_timeout_secs = 3601);
    assert_rejected(
        &config,
        "tenants[0].connection.ping_timeout_secs",
        "must be between 5 and 3600, got 3601",
    );
}

#[test]
fn an_oper_needs_a_password() {
    let config = with_tenant(|t| t.opers = vec![oper("alice", "")]);
    assert_rejected(
        &config,
        "tenants[0].opers[0].password",
        "is empty; an operator needs a password",
    );
}

#[test]
fn oper_names_are_checked_and_unique() {
    let config = with_tenant(|t| t.opers = vec![oper("", "pw")]);
    assert_rejected(
        &config,
        "tenants[0].opers[0].name",
        "\"\" is not a valid oper name",
    );
    let config = with_tenant(|t| t.opers = vec![oper("alice", "pw1"), oper("alice", "pw2")]);
    assert_rejected(
        &config,
        "tenants[0].opers[1].name",
        "oper name \"alice\" is already used by opers[0] of this tenant",
    );
}

#[test]
fn the_same_oper_name_may_exist_in_two_tenants() {
    let mut config = with_tenant(|t| t.opers = vec![oper("alice", "pw")]);
    let mut other = second_tenant("other", "127.0.0.1:7000");
    other.opers = vec![oper("alice", "different")];
    config.tenants.push(other);
    assert_eq!(config.validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn oper_hosts_must_be_user_at_host_masks() {
    let config = with_tenant(|t| {
        let mut op = oper("alice", "pw");
        op.hosts.clear();
        t.opers = vec![op];
    });
    assert_rejected(
        &config,
        "tenants[0].opers[0].hosts",
        "is empty, so nobody could use this oper block",
    );
    let config = with_tenant(|t| {
        let mut op = oper("alice", "pw");
        op.hosts = vec!["*@*".to_owned(), "localhost".to_owned()];
        t.opers = vec![op];
    });
    assert_rejected(
        &config,
        "tenants[0].opers[0].hosts[1]",
        "\"localhost\" is not a valid host mask",
    );
}

#[test]
fn errors_display_as_file_key_reason() {
    let mut config = Config::default();
    config.node.id = 0;
    assert_eq!(
        rejected(&config).to_string(),
        "conf/latticed.toml: node.id: must be between 1 and 999, got 0"
    );
}

#[test]
fn the_first_problem_in_file_order_is_reported() {
    let mut config = Config::default();
    config
        .tenants
        .push(second_tenant("other", "127.0.0.1:7000"));
    config.tenants[1].limits.nick_len = 0;
    config.tenants[0].network = String::new();
    assert_rejected(&config, "tenants[0].network", "it is empty");
}

#[test]
fn flush_interval_must_be_in_range() {
    let mut config = Config::default();
    config.node.flush_interval_ms = 0;
    assert_rejected(&config, "node.flush_interval_ms", "between 1 and 10000");
    config.node.flush_interval_ms = 10_001;
    assert_rejected(&config, "node.flush_interval_ms", "between 1 and 10000");
}

#[test]
fn worker_threads_must_be_in_range() {
    let mut config = Config::default();
    config.node.worker_threads = 0;
    assert_rejected(&config, "node.worker_threads", "between 1 and 256");
    config.node.worker_threads = 257;
    assert_rejected(&config, "node.worker_threads", "between 1 and 256");
    config.node.worker_threads = 256;
    assert_eq!(config.validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn snapshot_interval_must_be_in_range() {
    let mut config = Config::default();
    config.node.snapshot_every_ops = 9;
    assert_rejected(
        &config,
        "node.snapshot_every_ops",
        "between 10 and 100000000",
    );
    config.node.snapshot_every_ops = 100_000_001;
    assert_rejected(
        &config,
        "node.snapshot_every_ops",
        "between 10 and 100000000",
    );
    config.node.snapshot_every_ops = 10;
    assert_eq!(config.validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn history_limits_must_be_in_range() {
    let config = with_tenant(|t| t.history.retention_days = 0);
    assert_rejected(
        &config,
        "tenants[0].history.retention_days",
        "between 1 and 36500",
    );
    let config = with_tenant(|t| t.history.max_query = 1001);
    assert_rejected(
        &config,
        "tenants[0].history.max_query",
        "between 1 and 1000",
    );
}
