//! The `[cluster]` section: parsed from TOML with its defaults and resolved paths, and every
//! validation rule reported against its key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use latticed_config::{ClusterConfig, Config, ConfigError, PeerConfig};

const ORIGIN: &str = "conf/latticed.toml";

/// A file that exists, standing in for the PEM files (validation checks only that they are there).
fn existing_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
}

fn peer(id: u32, name: &str, address: &str) -> PeerConfig {
    PeerConfig {
        id,
        name: name.to_owned(),
        address: address.parse().expect("test address"),
    }
}

/// The default node (id 1, `irc.latticed.local`) in a two-node cluster.
fn clustered() -> Config {
    let mut cluster = ClusterConfig::new(
        "127.0.0.1:7000".parse().expect("addr"),
        "long shared secret",
        existing_file(),
        existing_file(),
        existing_file(),
    );
    cluster
        .peers
        .push(peer(2, "irc2.latticed.local", "127.0.0.1:7001"));
    Config {
        cluster: Some(cluster),
        ..Config::default()
    }
}

fn with_cluster(edit: impl FnOnce(&mut ClusterConfig)) -> Config {
    let mut config = clustered();
    if let Some(cluster) = config.cluster.as_mut() {
        edit(cluster);
    }
    config
}

/// Asserts the config fails at `key` with a reason containing `reason`.
fn assert_rejected(config: &Config, key: &str, reason: &str) {
    let err = config
        .validate(Path::new(ORIGIN))
        .expect_err("config should be rejected");
    assert_eq!(err.file, Path::new(ORIGIN), "{err}");
    assert_eq!(err.key, key, "{err}");
    assert!(err.reason.contains(reason), "expected {reason:?} in: {err}");
}

#[test]
fn a_two_node_cluster_is_valid() {
    assert_eq!(clustered().validate(Path::new(ORIGIN)), Ok(()));
}

#[test]
fn the_secret_must_be_long_enough() {
    let config = with_cluster(|c| c.secret = "hunter2".to_owned());
    assert_rejected(&config, "cluster.secret", "is 7 bytes long; use 16 to 1024");
}

#[test]
fn the_pem_files_must_exist() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-ca.pem");
    let config = with_cluster(|c| c.ca = missing.clone());
    assert_rejected(
        &config,
        "cluster.ca",
        &format!("cannot use cluster CA certificate {}", missing.display()),
    );
    let config = with_cluster(|c| c.key = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    assert_rejected(&config, "cluster.key", "is not a regular file");
}

#[test]
fn timeouts_are_range_checked() {
    let config = with_cluster(|c| c.keepalive_ms = 50);
    assert_rejected(
        &config,
        "cluster.keepalive_ms",
        "must be between 100 and 60000, got 50",
    );
    let config = with_cluster(|c| c.idle_timeout_ms = 700_000);
    assert_rejected(
        &config,
        "cluster.idle_timeout_ms",
        "must be between 200 and 600000",
    );
    let config = with_cluster(|c| c.grace_period_secs = 86_401);
    assert_rejected(
        &config,
        "cluster.grace_period_secs",
        "must be between 0 and 86400",
    );
    let config = with_cluster(|c| c.link_queue_frames = 0);
    assert_rejected(
        &config,
        "cluster.link_queue_frames",
        "must be between 1 and 1048576, got 0",
    );
}

#[test]
fn the_idle_timeout_must_outlast_two_keepalives() {
    let config = with_cluster(|c| {
        c.keepalive_ms = 1000;
        c.idle_timeout_ms = 1500;
    });
    assert_rejected(
        &config,
        "cluster.idle_timeout_ms",
        "must be at least twice keepalive_ms (1000)",
    );
}

#[test]
fn a_peer_cannot_be_this_node() {
    let config = with_cluster(|c| c.peers[0].id = 1);
    assert_rejected(&config, "cluster.peers[0].id", "is this node's own id");
    let config = with_cluster(|c| c.peers[0].name = "IRC.latticed.local".to_owned());
    assert_rejected(&config, "cluster.peers[0].name", "is this node's own name");
    let config = with_cluster(|c| c.peers[0].address = c.listen);
    assert_rejected(
        &config,
        "cluster.peers[0].address",
        "is this node's own cluster.listen address",
    );
}

#[test]
fn peer_fields_are_checked() {
    let config = with_cluster(|c| c.peers[0].id = 1000);
    assert_rejected(
        &config,
        "cluster.peers[0].id",
        "must be between 1 and 999, got 1000",
    );
    let config = with_cluster(|c| c.peers[0].name = "node2".to_owned());
    assert_rejected(
        &config,
        "cluster.peers[0].name",
        "\"node2\" is not a valid server name",
    );
    for address in ["0.0.0.0:7001", "127.0.0.1:0"] {
        let config = with_cluster(|c| c.peers[0].address = address.parse().expect("addr"));
        assert_rejected(&config, "cluster.peers[0].address", "cannot be dialed");
    }
}

#[test]
fn peer_ids_and_names_are_unique() {
    let config = with_cluster(|c| {
        c.peers
            .push(peer(2, "irc3.latticed.local", "127.0.0.1:7002"))
    });
    assert_rejected(
        &config,
        "cluster.peers[1].id",
        "id 2 is already used by peers[0]",
    );
    let config = with_cluster(|c| {
        c.peers
            .push(peer(3, "IRC2.latticed.local", "127.0.0.1:7002"))
    });
    assert_rejected(
        &config,
        "cluster.peers[1].name",
        "name \"IRC2.latticed.local\" is already used by peers[0]",
    );
}

#[test]
fn tenants_are_checked_before_the_cluster() {
    let mut config = with_cluster(|c| c.secret = String::new());
    config.tenants[0].network = String::new();
    assert_rejected(&config, "tenants[0].network", "it is empty");
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "latticed-config-cluster-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write temp file");
        path
    }

    /// Writes placeholder PEM files under `cluster/` and a config file with `cluster_toml` after a
    /// `[node]` section for node 1.
    fn config(&self, cluster_toml: &str) -> PathBuf {
        for file in ["ca.pem", "node1.pem", "node1.key"] {
            self.write(
                &format!("cluster/{file}"),
                "placeholder for an existence check",
            );
        }
        self.write(
            "latticed.toml",
            &format!("[node]\nid = 1\nname = \"irc1.latticed.local\"\n\n{cluster_toml}"),
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CLUSTER_TOML: &str = r#"[cluster]
listen = "127.0.0.1:7000"
secret = "long shared secret"
ca = "cluster/ca.pem"
cert = "cluster/node1.pem"
key = "cluster/node1.key"

[[cluster.peers]]
name = "irc2.latticed.local"
address = "127.0.0.1:7001"
id = 2
"#;

fn load_err(dir: &TempDir, cluster_toml: &str) -> ConfigError {
    Config::load(&dir.config(cluster_toml)).expect_err("config should be rejected")
}

#[test]
fn a_cluster_section_loads_with_defaults_and_resolved_paths() {
    let dir = TempDir::new();
    let config = Config::load(&dir.config(CLUSTER_TOML)).expect("cluster config");
    let cluster = config.cluster.expect("cluster section");
    assert_eq!(cluster.listen, "127.0.0.1:7000".parse().expect("addr"));
    assert_eq!(cluster.ca, dir.0.join("cluster/ca.pem"));
    assert_eq!(cluster.cert, dir.0.join("cluster/node1.pem"));
    assert_eq!(cluster.key, dir.0.join("cluster/node1.key"));
    assert_eq!(cluster.keepalive_ms, 1000);
    assert_eq!(cluster.idle_timeout_ms, 5000);
    assert_eq!(cluster.grace_period_secs, 30);
    assert!(!cluster.allow_join);
    assert_eq!(
        cluster.peers,
        [peer(2, "irc2.latticed.local", "127.0.0.1:7001")]
    );
}

#[test]
fn without_a_cluster_section_the_node_is_alone() {
    let config = Config::from_toml_str("", Path::new(ORIGIN)).expect("empty config");
    assert_eq!(config.cluster, None);
}

#[test]
fn required_cluster_keys_are_named_when_missing() {
    let dir = TempDir::new();
    let err = load_err(&dir, "[cluster]\nlisten = \"127.0.0.1:7000\"\n");
    assert_eq!(err.key, "cluster.secret", "{err}");
    assert!(err.reason.contains("missing field `secret`"), "{err}");
}

#[test]
fn a_typo_in_a_peer_names_its_key_path() {
    let dir = TempDir::new();
    let text = CLUSTER_TOML.replace("address =", "adress =");
    let err = load_err(&dir, &text);
    assert_eq!(err.key, "cluster.peers[0].adress", "{err}");
    assert!(err.reason.contains("unknown field `adress`"), "{err}");
}

#[test]
fn a_missing_pem_file_names_key_and_resolved_path() {
    let dir = TempDir::new();
    let text = CLUSTER_TOML.replace("cluster/node1.key", "cluster/absent.key");
    let err = load_err(&dir, &text);
    assert_eq!(err.key, "cluster.key", "{err}");
    let expected = format!(
        "cannot use node key {}",
        dir.0.join("cluster/absent.key").display()
    );
    assert!(err.reason.starts_with(&expected), "{err}");
}

#[test]
fn a_cluster_config_round_trips_through_toml() {
    let config = clustered();
    let text = toml::to_string(&config).expect("serializes");
    assert!(text.contains("[cluster]"), "{text}");
    assert_eq!(
        Config::from_toml_str(&text, Path::new(ORIGIN)).expect("parses"),
        config
    );
}
