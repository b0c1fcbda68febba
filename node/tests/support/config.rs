//! Builders for test configurations, as TOML text fed to `latticed_config::Config::from_toml_str`.
//!
//! Every listener and the admin endpoint bind port 0 so tests run in parallel.

/// The name of the oper block every open tenant has.
pub const OPER_NAME: &str = "oper";
/// Its password.
pub const OPER_PASSWORD: &str = "secret";

/// Oper blocks: `oper` matches every host; `farhost` matches no test client (for 491).
const OPERS: &str = r#"
[[tenants.opers]]
name = "oper"
password = "secret"
hosts = ["*@*"]
privileges = ["kill", "rehash", "wallops", "see-invisible", "see-secret"]

[[tenants.opers]]
name = "farhost"
password = "secret"
hosts = ["*@192.0.2.1"]
privileges = ["kill"]
"#;

/// Flood control off, so tests can send quickly.
pub const FLOOD_OFF: &str = "
[tenants.flood]
enabled = false
";

/// The MOTD of open tenants; tests look for both lines in 372 replies.
const MOTD: &str = "line one\nline two";

/// A whole node configuration with the given `[[tenants]]` blocks.
pub fn node_toml(tenants: &[String]) -> String {
    let mut out =
        String::from("[node]\nid = 1\nname = \"irc.test\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    for t in tenants {
        out.push('\n');
        out.push_str(t);
    }
    out
}

/// One `[[tenants]]` block with a loopback listener on port 0 and, if given, a MOTD; `sections`
/// holds the tenant's sub-tables (`[tenants.flood]`, `[[tenants.opers]]`, ...), which TOML
/// requires after the tenant's own keys.
pub fn tenant_toml(name: &str, network: &str, motd: Option<&str>, sections: &str) -> String {
    let motd = motd
        .map(|m| format!("motd = {}\n", toml_string(m)))
        .unwrap_or_default();
    format!(
        "[[tenants]]\nname = {}\nnetwork = {}\ncasemapping = \"rfc1459\"\n{motd}\n\
         [[tenants.listeners]]\naddress = \"127.0.0.1:0\"\n{sections}",
        toml_string(name),
        toml_string(network),
    )
}

/// The `default` tenant (network `TestNet`) with flood control off, the standard opers, the
/// standard MOTD, and `extra` sub-tables (which must not repeat `[tenants.flood]`).
pub fn open_tenant(extra: &str) -> String {
    tenant_toml(
        "default",
        "TestNet",
        Some(MOTD),
        &format!("{FLOOD_OFF}{OPERS}{extra}"),
    )
}

/// A TOML basic string literal for `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
