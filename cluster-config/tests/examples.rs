//! The shipped example configs load, validate, and say what they claim to say.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use latticed_config::{CaseMappingName, ClusterConfig, Config, OperPrivilege};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn load(name: &str) -> Config {
    let path = example(name);
    Config::load(&path).unwrap_or_else(|err| panic!("{} should load: {err}", path.display()))
}

#[test]
fn single_node_example_is_exactly_the_built_in_default() {
    assert_eq!(load("single-node.toml"), Config::default());
}

/// Collects the dotted key paths of a TOML tree; arrays of tables contribute `name[]`, other arrays are
/// leaves.
fn key_paths(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (key, child) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            match child {
                toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                    for item in items {
                        key_paths(item, &format!("{path}[]"), out);
                    }
                }
                other => key_paths(other, &path, out),
            }
        }
    }
}

#[test]
fn single_node_example_shows_every_key_of_the_default() {
    let default = toml::Value::try_from(Config::default()).expect("default serializes");
    let text = std::fs::read_to_string(example("single-node.toml")).expect("example readable");
    let shown: toml::Value = toml::from_str(&text).expect("example is TOML");
    let mut wanted = BTreeSet::new();
    key_paths(&default, "", &mut wanted);
    let mut present = BTreeSet::new();
    key_paths(&shown, "", &mut present);
    let missing: Vec<_> = wanted.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "single-node.toml lacks keys: {missing:?}"
    );
    assert!(wanted.contains("tenants[].limits.nick_len"));
}

#[test]
fn single_node_example_documents_the_optional_keys_in_comments() {
    let text = std::fs::read_to_string(example("single-node.toml")).expect("example readable");
    for key in [
        "# token = ",
        "# server_name = ",
        "# motd_file = ",
        "# tls = ",
        "# [cluster]",
        "# [[cluster.peers]]",
        "# allow_join = ",
    ] {
        assert!(text.contains(key), "single-node.toml should show `{key}`");
    }
}

#[test]
fn two_tenants_example_has_two_separate_networks() {
    let config = load("two-tenants.toml");
    let names: Vec<_> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["acme", "community"]);

    let acme = config.tenant("acme").expect("acme tenant");
    let community = config.tenant("community").expect("community tenant");
    assert_eq!(acme.listeners[0].address.port(), 6667);
    assert_eq!(community.listeners[0].address.port(), 6668);
    assert_ne!(acme.network, community.network);
    assert_ne!(acme.motd, community.motd);
    assert_eq!(
        acme.motd[0],
        "Welcome to AcmeChat, Acme Corp's internal chat."
    );

    let motd_file = std::fs::read_to_string(example("motd/community.txt")).expect("motd file");
    let expected: Vec<_> = motd_file.lines().collect();
    assert_eq!(community.motd, expected);

    assert_eq!(acme.oper("alice").expect("alice").hosts, ["*@10.0.*"]);
    assert!(community
        .oper("bob")
        .expect("bob")
        .has(OperPrivilege::SeeSecret));
    assert!(acme.oper("bob").is_none(), "opers do not cross tenants");
    assert_eq!(community.casemapping, CaseMappingName::Ascii);
    assert_eq!(
        community.server_name_or(&config.node.name),
        "irc.community.example"
    );
    assert_eq!(acme.server_name_or(&config.node.name), "irc.example.net");
}

#[test]
fn irctest_example_meets_the_irctest_requirements() {
    let config = load("irctest.toml");
    assert_eq!(config.tenants.len(), 1);
    let tenant = &config.tenants[0];
    assert_eq!(tenant.server_name_or(&config.node.name), "My.Little.Server");
    assert_eq!(
        tenant.listeners[0].address,
        "127.0.0.1:6667".parse().expect("addr")
    );
    assert!(tenant.listeners[0].tls.is_none());

    let oper = tenant.oper("operuser").expect("operuser block");
    assert_eq!(oper.password, "operpassword");
    assert_eq!(oper.hosts, ["*@*"]);
    for privilege in OperPrivilege::ALL {
        assert!(oper.has(privilege), "operuser lacks {}", privilege.as_str());
    }

    assert!(!tenant.flood.enabled);
    assert!(tenant.flood.max_connections_per_ip >= 1000);
    let localhost: IpAddr = "127.0.0.1".parse().expect("ip");
    assert!(tenant.flood.is_exempt(localhost));
    assert!(tenant.connection.registration_timeout_secs >= 10);

    let limits = &tenant.limits;
    assert!(limits.nick_len >= 32);
    assert!(limits.channel_len >= 64);
    assert_eq!(limits.topic_len, 390);
    assert_eq!(limits.kick_len, 390);
    assert!(limits.away_len >= 200);
    assert!(limits.max_list_entries >= 60);
    assert!(limits.max_monitor >= 100);
    assert!(limits.max_channels_per_user >= 1000);
}

#[test]
fn single_node_example_documents_the_cluster_defaults() {
    #[derive(serde::Deserialize)]
    struct File {
        cluster: ClusterConfig,
    }
    let text = std::fs::read_to_string(example("single-node.toml")).expect("example readable");
    let (_, block) = text
        .split_once("# [cluster]")
        .expect("commented [cluster] block");
    let mut uncommented = String::from("[cluster]\n");
    for line in block.lines().filter_map(|line| line.strip_prefix("# ")) {
        if line.starts_with('[') || line.contains(" = ") {
            uncommented.push_str(line);
            uncommented.push('\n');
        }
    }
    let shown = toml::from_str::<File>(&uncommented)
        .expect("uncommented block parses")
        .cluster;
    let defaults = ClusterConfig::new(
        shown.listen,
        shown.secret.clone(),
        shown.ca.clone(),
        shown.cert.clone(),
        shown.key.clone(),
    );
    assert_eq!(
        ClusterConfig {
            peers: Vec::new(),
            ..shown.clone()
        },
        defaults
    );
    assert_eq!(shown.peers.len(), 1);
    assert_eq!(shown.peers[0].id, 2);
}
