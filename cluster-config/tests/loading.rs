//! Reading and parsing: defaults for missing keys, errors with key paths for bad TOML, and paths in the
//! file resolved against the file's directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use latticed_config::{CaseMappingName, Config, ConfigError, OperPrivilege};

const ORIGIN: &str = "conf/latticed.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new(ORIGIN))
}

/// Asserts `text` fails at `key` with a reason containing every fragment.
fn assert_rejected(text: &str, key: &str, fragments: &[&str]) {
    let err = parse(text).expect_err("text should be rejected");
    assert_eq!(err.file, Path::new(ORIGIN), "{err}");
    assert_eq!(err.key, key, "{err}");
    for fragment in fragments {
        assert!(
            err.reason.contains(fragment),
            "expected {fragment:?} in: {err}"
        );
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "latticed-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn empty_text_gives_the_defaults() {
    assert_eq!(parse("").expect("empty config"), Config::default());
}

#[test]
fn missing_keys_keep_their_defaults() {
    let config =
        parse("[node]\nid = 7\n\n[[tenants]]\nname = \"x\"\n[tenants.limits]\nnick_len = 20\n")
            .expect("partial config");
    assert_eq!(config.node.id, 7);
    assert_eq!(config.node.name, "irc.latticed.local");
    assert_eq!(config.admin, Config::default().admin);
    let tenant = config.tenant("x").expect("tenant x");
    assert_eq!(tenant.limits.nick_len, 20);
    assert_eq!(tenant.limits.topic_len, 390);
    assert_eq!(tenant.network, "Latticed");
    assert_eq!(tenant.listeners, Config::default().tenants[0].listeners);
    assert!(config.tenant("default").is_none());
}

#[test]
fn a_typo_is_an_error_naming_the_key_path_and_line() {
    assert_rejected(
        "[[tenants]]\nname = \"a\"\n[tenants.limits]\nnick_lenn = 30\n",
        "tenants[0].limits.nick_lenn",
        &[
            "unknown field `nick_lenn`",
            "expected one of",
            "(line 4, column 1)",
        ],
    );
    assert_rejected(
        "nodes = 1\n",
        "nodes",
        &[
            "unknown field `nodes`",
            "expected one of `node`, `admin`, `tenants`",
        ],
    );
    assert_rejected(
        "[admin]\ntokn = \"x\"\n",
        "admin.tokn",
        &["unknown field `tokn`"],
    );
}

#[test]
fn a_bad_value_names_its_key_in_nested_arrays() {
    assert_rejected(
        "[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"b\"\n[[tenants.listeners]]\naddress = \"localhost:6667\"\n",
        "tenants[1].listeners[0].address",
        &["invalid socket address syntax", "(line 6, column 11)"],
    );
    assert_rejected(
        "[node]\nid = \"one\"\n",
        "node.id",
        &["invalid type: string \"one\", expected u32"],
    );
    assert_rejected(
        "[node]\nid = -1\n",
        "node.id",
        &["invalid value: integer `-1`"],
    );
}

#[test]
fn a_listener_needs_an_address() {
    assert_rejected(
        "[[tenants]]\n[[tenants.listeners]]\n",
        "tenants[0].listeners[0].address",
        &["missing field `address`"],
    );
}

#[test]
fn an_oper_needs_a_name_and_password_in_the_file() {
    assert_rejected(
        "[[tenants]]\n[[tenants.opers]]\nname = \"alice\"\n",
        "tenants[0].opers[0].password",
        &["missing field `password`"],
    );
}

#[test]
fn opers_parse_with_default_hosts() {
    let config = parse(
        "[[tenants]]\n[[tenants.opers]]\nname = \"alice\"\npassword = \"pw\"\nprivileges = [\"kill\", \"see-invisible\"]\n",
    )
    .expect("oper config");
    let oper = config.tenants[0].oper("alice").expect("alice");
    assert_eq!(oper.hosts, ["*@*"]);
    assert_eq!(
        oper.privileges,
        [OperPrivilege::Kill, OperPrivilege::SeeInvisible]
    );
}

#[test]
fn an_unknown_privilege_is_an_error() {
    assert_rejected(
        "[[tenants]]\n[[tenants.opers]]\nname = \"x\"\npassword = \"y\"\nprivileges = [\"kill\", \"die\"]\n",
        "tenants[0].opers[0].privileges[1]",
        &["unknown variant `die`", "`see-invisible`"],
    );
}

#[test]
fn an_empty_oper_password_in_the_file_is_an_error() {
    assert_rejected(
        "[[tenants]]\n[[tenants.opers]]\nname = \"x\"\npassword = \"\"\n",
        "tenants[0].opers[0].password",
        &["is empty"],
    );
}

#[test]
fn a_bad_cidr_is_an_error() {
    assert_rejected(
        "[[tenants]]\n[tenants.flood]\nexempt = [\"127.0.0.0/8\", \"10.0.0.1/8\"]\n",
        "tenants[0].flood.exempt[1]",
        &["invalid CIDR `10.0.0.1/8`: host bits are set (did you mean 10.0.0.0/8?)"],
    );
    assert_rejected(
        "[[tenants]]\n[tenants.flood]\nexempt = [\"10.0.0.0/40\"]\n",
        "tenants[0].flood.exempt[0]",
        &["prefix length must be a number from 0 to 32"],
    );
}

#[test]
fn casemapping_is_parsed_and_checked() {
    let config = parse("[[tenants]]\ncasemapping = \"ascii\"\n").expect("ascii");
    assert_eq!(config.tenants[0].casemapping, CaseMappingName::Ascii);
    assert_eq!(config.tenants[0].casemapping.as_str(), "ascii");
    assert_rejected(
        "[[tenants]]\ncasemapping = \"utf8\"\n",
        "tenants[0].casemapping",
        &["unknown variant `utf8`, expected `ascii` or `rfc1459`"],
    );
}

#[test]
fn a_toml_syntax_error_is_a_whole_file_error_with_a_line() {
    assert_rejected("[node]\nid = 1\n[tenants\n", "", &["(line 3, column"]);
}

#[test]
fn explicitly_no_tenants_is_an_error() {
    assert_rejected(
        "tenants = []\n",
        "tenants",
        &["at least one tenant is required"],
    );
}

#[test]
fn validation_runs_after_parsing() {
    assert_rejected(
        "[node]\nid = 1000\n",
        "node.id",
        &["must be between 1 and 999, got 1000"],
    );
}

#[test]
fn motd_may_be_text_or_a_list_of_lines() {
    let config = parse("[[tenants]]\nmotd = \"\"\"\nfirst\n\nthird\n\"\"\"\n").expect("text motd");
    assert_eq!(config.tenants[0].motd, ["first", "", "third"]);
    let config = parse("[[tenants]]\nmotd = [\"one\", \"two\"]\n").expect("list motd");
    assert_eq!(config.tenants[0].motd, ["one", "two"]);
    assert_rejected(
        "[[tenants]]\nmotd = 5\n",
        "tenants[0].motd",
        &["expected a string (one line per line of text) or an array of lines"],
    );
}

#[test]
fn motd_and_motd_file_are_exclusive() {
    assert_rejected(
        "[[tenants]]\nmotd = \"hi\"\nmotd_file = \"motd.txt\"\n",
        "tenants[0].motd_file",
        &["set either `motd` or `motd_file`, not both"],
    );
}

#[test]
fn motd_file_is_read_relative_to_the_config_file() {
    let dir = TempDir::new();
    dir.write("motd/welcome.txt", "Hello there\r\nSecond line\n");
    let path = dir.write(
        "conf/latticed.toml",
        "[[tenants]]\nmotd_file = \"../motd/welcome.txt\"\n",
    );
    let config = Config::load(&path).expect("config with motd_file");
    assert_eq!(config.tenants[0].motd, ["Hello there", "Second line"]);
}

#[test]
fn a_missing_motd_file_names_its_resolved_path() {
    let dir = TempDir::new();
    let path = dir.write("latticed.toml", "[[tenants]]\nmotd_file = \"nope.txt\"\n");
    let err = Config::load(&path).expect_err("missing motd file");
    assert_eq!(err.file, path);
    assert_eq!(err.key, "tenants[0].motd_file");
    let expected = format!("cannot read {}: ", dir.0.join("nope.txt").display());
    assert!(err.reason.starts_with(&expected), "{err}");
}

#[test]
fn an_oversized_or_binary_motd_file_is_refused() {
    let dir = TempDir::new();
    dir.write("big.txt", "x".repeat(64 * 1024 + 1));
    dir.write("binary.txt", [0xff, 0xfe, 0x00]);
    let path = dir.write("latticed.toml", "[[tenants]]\nmotd_file = \"big.txt\"\n");
    let err = Config::load(&path).expect_err("oversized motd");
    assert!(err.reason.contains("larger than 65536 bytes"), "{err}");

    let path = dir.write("latticed.toml", "[[tenants]]\nmotd_file = \"binary.txt\"\n");
    let err = Config::load(&path).expect_err("binary motd");
    assert_eq!(err.key, "tenants[0].motd_file");
    assert!(err.reason.contains("valid UTF-8"), "{err}");
}

#[test]
fn tls_paths_are_resolved_against_the_config_directory() {
    let dir = TempDir::new();
    let cert = dir.write(
        "tls/cert.pem",
        "certificate placeholder for an existence check",
    );
    let key = dir.write("tls/key.pem", "key placeholder for an existence check");
    let path = dir.write(
        "latticed.toml",
        "[[tenants]]\n[[tenants.listeners]]\naddress = \"127.0.0.1:6697\"\ntls = { cert = \"tls/cert.pem\", key = \"tls/key.pem\" }\n",
    );
    let config = Config::load(&path).expect("tls config");
    let tls = config.tenants[0].listeners[0].tls.as_ref().expect("tls");
    assert_eq!(tls.cert, cert);
    assert_eq!(tls.key, key);
}

#[test]
fn a_missing_tls_file_names_key_and_path() {
    let dir = TempDir::new();
    dir.write("cert.pem", "certificate placeholder for an existence check");
    let path = dir.write(
        "latticed.toml",
        "[[tenants]]\n[[tenants.listeners]]\naddress = \"127.0.0.1:6697\"\ntls = { cert = \"cert.pem\", key = \"key.pem\" }\n",
    );
    let err = Config::load(&path).expect_err("missing key file");
    assert_eq!(err.key, "tenants[0].listeners[0].tls.key");
    let expected = format!("cannot use TLS key {}", dir.0.join("key.pem").display());
    assert!(err.reason.starts_with(&expected), "{err}");
}

#[test]
fn an_unreadable_config_file_is_a_whole_file_error() {
    let dir = TempDir::new();
    let missing = dir.0.join("absent.toml");
    let err = Config::load(&missing).expect_err("missing file");
    assert_eq!(err.file, missing);
    assert_eq!(err.key, "");
    assert!(err.reason.starts_with("cannot read config file: "), "{err}");

    let binary = dir.write("binary.toml", [0xc3, 0x28]);
    let err = Config::load(&binary).expect_err("invalid UTF-8");
    assert_eq!(err.key, "");
    assert!(err.reason.contains("valid UTF-8"), "{err}");
}

#[test]
fn the_default_config_round_trips_through_toml() {
    let text = toml::to_string(&Config::default()).expect("default serializes");
    assert_eq!(
        parse(&text).expect("serialized default parses"),
        Config::default()
    );
}
