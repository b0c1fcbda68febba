//! The `latticed` binary itself: version output, `check-config`, and the cluster certificate
//! subcommands.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use support::config::{node_toml, open_tenant};

fn latticed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latticed"))
        .args(args)
        .output()
        .expect("run the latticed binary")
}

/// Writes `contents` to a file named `name` in Cargo's per-target scratch directory for tests.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("latticed-binary-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("write scratch config");
    path
}

#[test]
fn version_flag_prints_the_package_version() {
    let out = latticed(&["--version"]);
    assert!(out.status.success(), "--version failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version prints {}: {stdout}",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn check_config_accepts_a_good_config() {
    let path = scratch_file("good.toml", &node_toml(&[open_tenant("")]));
    let out = latticed(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "a valid config was rejected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&path).expect("remove scratch config");
}

#[test]
fn check_config_rejects_an_unknown_key_naming_the_file_and_key() {
    let toml = node_toml(&[open_tenant("")]).replace("name = \"irc.test\"", "nmae = \"irc.test\"");
    assert!(toml.contains("nmae"), "the typo is in the file under test");
    let path = scratch_file("typo.toml", &toml);
    let out = latticed(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "a config with a typo was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file_name = path
        .file_name()
        .and_then(|f| f.to_str())
        .expect("file name");
    assert!(
        stderr.contains(file_name),
        "stderr names the file: {stderr}"
    );
    assert!(
        stderr.contains("nmae"),
        "stderr names the unknown key: {stderr}"
    );
    std::fs::remove_file(&path).expect("remove scratch config");
}

#[test]
fn check_config_rejects_a_missing_file() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("latticed-no-such-config.toml");
    let out = latticed(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "a missing config file was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("latticed-no-such-config.toml"), "{stderr}");
}

#[test]
fn cluster_ca_and_node_cert_write_certificates_and_private_keys() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("latticed-binary-{}-cluster", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().expect("utf-8 path");
    let out = latticed(&["cluster-ca", "--out", dir_arg, "--name", "test"]);
    assert!(out.status.success(), "cluster-ca failed: {out:?}");
    let out = latticed(&[
        "node-cert",
        "--ca",
        dir_arg,
        "--name",
        "irc1.test",
        "--out",
        dir_arg,
    ]);
    assert!(out.status.success(), "node-cert failed: {out:?}");
    for file in ["ca.pem", "ca.key", "irc1.test.pem", "irc1.test.key"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("written file");
        assert!(text.starts_with("-----BEGIN "), "{file} is PEM");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca.key", "irc1.test.key"] {
            let mode = std::fs::metadata(dir.join(key))
                .expect("key metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key} is private");
        }
    }
    let again = latticed(&["cluster-ca", "--out", dir_arg]);
    assert!(
        !again.status.success(),
        "cluster-ca overwrote an existing CA"
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    let bad = latticed(&[
        "node-cert",
        "--ca",
        dir_arg,
        "--name",
        "not a name",
        "--out",
        dir_arg,
    ]);
    assert!(!bad.status.success(), "node-cert accepted an invalid name");
    std::fs::remove_dir_all(&dir).expect("remove scratch dir");
}
