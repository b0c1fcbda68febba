//! The cluster CA and node certificates as files, and nodes started from a config that points at them.

use latticed_cluster::pki::{self, PemFiles};
use latticed_cluster::{ClusterSettings, NodeId, PkiError};
use latticed_config::{ClusterConfig, NodeConfig, PeerConfig};

use crate::support::{free_addr, name, peer_up, start, SECRET};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_ca_and_node_certificates_are_written_with_private_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = pki::write_ca(&dir.path().join("ca"), "files").expect("write CA");
    assert_eq!(
        ca,
        PemFiles {
            cert: dir.path().join("ca").join(pki::CA_CERT_FILE),
            key: dir.path().join("ca").join(pki::CA_KEY_FILE),
        }
    );
    let node = pki::write_node_cert(&dir.path().join("ca"), "irc1.example.net", dir.path())
        .expect("write node cert");
    assert_eq!(node.cert, dir.path().join("irc1.example.net.pem"));
    assert_eq!(node.key, dir.path().join("irc1.example.net.key"));
    for file in [&ca.cert, &node.cert] {
        let text = std::fs::read_to_string(file).expect("read cert");
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
    }
    for file in [&ca.key, &node.key] {
        let text = std::fs::read_to_string(file).expect("read key");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&ca.key), 0o600);
        assert_eq!(mode(&node.key), 0o600);
        assert_eq!(mode(&node.cert), 0o644);
    }
}

#[test]
fn existing_files_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = pki::write_ca(dir.path(), "once").expect("write CA");
    let before = std::fs::read_to_string(&first.key).expect("read key");
    match pki::write_ca(dir.path(), "twice") {
        Err(PkiError::File { path, source, .. }) => {
            assert_eq!(path, first.cert);
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&first.key).expect("read key"),
        before
    );
    pki::write_node_cert(dir.path(), "irc1.example.net", dir.path()).expect("first issue");
    assert!(matches!(
        pki::write_node_cert(dir.path(), "irc1.example.net", dir.path()),
        Err(PkiError::File { .. })
    ));
}

#[test]
fn bad_names_and_a_missing_ca_are_errors() {
    assert!(matches!(
        pki::generate_ca(""),
        Err(PkiError::InvalidClusterName { .. })
    ));
    let ca = pki::generate_ca("names").expect("CA");
    for bad in ["", "not a name", "192.0.2.1", "irc..example.net"] {
        assert!(
            matches!(
                pki::issue_node_cert(&ca.cert, &ca.key, bad),
                Err(PkiError::InvalidNodeName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        pki::issue_node_cert("not a pem", &ca.key, "irc1.example.net"),
        Err(PkiError::Certificate { .. })
    ));
    let empty = tempfile::tempdir().expect("tempdir");
    match pki::write_node_cert(empty.path(), "irc1.example.net", empty.path()) {
        Err(PkiError::File { path, .. }) => assert_eq!(path, empty.path().join(pki::CA_CERT_FILE)),
        other => panic!("expected a missing CA, got {other:?}"),
    }
}

#[tokio::test]
async fn nodes_started_from_config_files_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    pki::write_ca(dir.path(), "configured").expect("write CA");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut started = Vec::new();
    for (id, listen, other, other_addr) in [(1, a_addr, 2, b_addr), (2, b_addr, 1, a_addr)] {
        let files = pki::write_node_cert(dir.path(), &name(id), dir.path()).expect("node cert");
        let node = NodeConfig {
            id,
            name: name(id),
            ..NodeConfig::default()
        };
        let mut cluster = ClusterConfig::new(
            listen,
            SECRET,
            dir.path().join(pki::CA_CERT_FILE),
            files.cert,
            files.key,
        );
        cluster.peers.push(PeerConfig {
            id: other,
            name: name(other),
            address: other_addr,
        });
        let settings = ClusterSettings::from_config(&node, &cluster, None).expect("settings");
        assert_eq!(settings.node_id, NodeId(id));
        assert_eq!(settings.idle_timeout, cluster.idle_timeout());
        started.push(start(settings).await);
    }
    let (b, mut b_events) = started.pop().expect("node 2");
    let (a, mut a_events) = started.pop().expect("node 1");
    assert_eq!(peer_up(&mut a_events, 2).await, b.epoch());
    assert_eq!(peer_up(&mut b_events, 1).await, a.epoch());
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn a_missing_pem_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ClusterConfig::new(
        free_addr(),
        SECRET,
        dir.path().join("absent-ca.pem"),
        dir.path().join("node.pem"),
        dir.path().join("node.key"),
    );
    let err = ClusterSettings::from_config(&NodeConfig::default(), &cluster, None)
        .expect_err("missing CA file");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "reading the cluster CA certificate {}",
            dir.path().join("absent-ca.pem").display()
        )),
        "{text}"
    );
}
