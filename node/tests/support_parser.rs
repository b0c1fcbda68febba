//! Self-checks of the test client's line parser, so a failing node test is never the parser's
//! fault.

mod support;

use support::msg::Msg;
use support::{bare_nick, is_error_numeric, is_server_time};

#[test]
fn parses_tags_source_command_and_params() {
    let m = Msg::parse("@time=2024-01-02T03:04:05.678Z;msgid=abc;+draft/react=x;flag :nick!user@host PRIVMSG #chan :hello world")
        .expect("valid line");
    assert_eq!(m.tag("time"), Some("2024-01-02T03:04:05.678Z"));
    assert_eq!(m.tag("msgid"), Some("abc"));
    assert_eq!(m.tag("+draft/react"), Some("x"));
    assert_eq!(m.tag("flag"), Some(""));
    assert_eq!(m.source.as_deref(), Some("nick!user@host"));
    assert_eq!(m.nick(), "nick");
    assert_eq!(m.command, "PRIVMSG");
    assert_eq!(m.params, vec!["#chan", "hello world"]);
    assert!(m.is_from("privmsg", "NICK"));
}

#[test]
fn parses_numerics_middle_params_and_empty_trailing() {
    let m = Msg::parse(":irc.test 353 alice = #chan :@alice bob").expect("valid");
    assert_eq!(m.command, "353");
    assert_eq!(m.params, vec!["alice", "=", "#chan", "@alice bob"]);
    assert_eq!(m.nick(), "irc.test");
    let m = Msg::parse(":irc.test TOPIC #chan :").expect("valid");
    assert_eq!(m.params, vec!["#chan", ""]);
    let m = Msg::parse("PING  token").expect("valid");
    assert_eq!(m.params, vec!["token"]);
    assert!(m.source.is_none());
    let m = Msg::parse(":bob!u@h AWAY").expect("valid");
    assert!(m.params.is_empty());
}

#[test]
fn unescapes_tag_values() {
    let m = Msg::parse(r"@a=semi\:space\sback\\slash\r\n;b=trail\ :s CMD").expect("valid");
    assert_eq!(m.tag("a"), Some("semi;space back\\slash\r\n"));
    assert_eq!(m.tag("b"), Some("trail"));
}

#[test]
fn rejects_lines_without_a_command() {
    assert!(Msg::parse("").is_err());
    assert!(Msg::parse("@tag=1").is_err());
    assert!(Msg::parse(":source").is_err());
    assert!(Msg::parse(":source ").is_err());
}

#[test]
fn helper_predicates() {
    assert!(is_server_time("2024-12-31T23:59:59.999Z"));
    assert!(!is_server_time("2024-12-31T23:59:59Z"));
    assert!(!is_server_time("2024-12-31 23:59:59.999Z"));
    assert!(!is_server_time("2024-12-31T23:59:59.999+00:00"));
    assert!(is_error_numeric("433") && is_error_numeric("502"));
    assert!(!is_error_numeric("353") && !is_error_numeric("PRIVMSG") && !is_error_numeric("4333"));
    assert_eq!(bare_nick("@+alice!u@h"), "alice");
    assert_eq!(bare_nick("bob"), "bob");
}

#[test]
fn server_time_conversions_round_trip() {
    use support::time::{iso8601, parse_server_time};
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(iso8601(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    for ms in [0, 951_782_400_123, 1_735_689_599_999, 4_102_444_800_001] {
        assert_eq!(parse_server_time(&iso8601(ms)), ms);
    }
}

#[test]
fn prometheus_samples_are_found_by_exact_name() {
    use support::process::metric_value;
    let page = "# HELP x_total help\n# TYPE x_total counter\nx_total 3\nx_total_more 9\n\
                y{tenant=\"a\"} 4\nz 1.5\n";
    assert_eq!(metric_value(page, "x_total"), Some(3.0));
    assert_eq!(metric_value(page, "z"), Some(1.5));
    assert_eq!(metric_value(page, "y"), None);
    assert_eq!(metric_value(page, "missing"), None);
}
