//! The scenarios: each checks its parameters, builds a plan, runs it and wraps the figures in a
//! [`Report`] with the scenario's name, label and parameters.

pub mod channels;
pub mod connect;
pub mod cross;
pub mod fanout;

use std::sync::Arc;

use serde::Serialize;
use tokio::time::{Duration, Instant};

use crate::cli::{Common, Scenario, TrafficOptions};
use crate::error::Error;
use crate::procfs;
use crate::traffic::{self, summary, Plan, Settings};

/// One run's output: the JSON line printed on stdout.
#[derive(Debug, Serialize)]
pub struct Report<P: Serialize, F: Serialize> {
    /// Scenario name.
    pub scenario: &'static str,
    /// The user's `--label`.
    pub label: String,
    /// Whether the overall `--timeout` cut the run short (figures are then partial).
    pub timed_out: bool,
    /// Wall time of the whole run, setup included.
    pub elapsed_secs: f64,
    /// The parameters, as given.
    pub params: P,
    /// The scenario's figures.
    #[serde(flatten)]
    pub figures: F,
}

/// Run the chosen scenario and return its report as one JSON line.
pub async fn run(scenario: Scenario) -> Result<String, Error> {
    let line = match scenario {
        Scenario::Fanout(args) => to_line(&fanout::run(args).await?),
        Scenario::Channels(args) => to_line(&channels::run(args).await?),
        Scenario::Connect(args) => to_line(&connect::run(args).await?),
        Scenario::Cross(args) => to_line(&cross::run(args).await?),
    };
    line.map_err(|err| Error::Report(err.into()))
}

fn to_line<T: Serialize>(report: &T) -> serde_json::Result<String> {
    serde_json::to_string(report)
}

/// Check the common flags and turn `--timeout` into a deadline.
fn deadline(common: &Common) -> Result<Instant, Error> {
    check_nick_prefix(&common.nick_prefix)?;
    let timeout = seconds("timeout", common.timeout)?;
    Ok(Instant::now() + timeout)
}

/// A positive, finite number of seconds.
fn seconds(name: &str, value: f64) -> Result<Duration, Error> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::Params(format!(
            "--{name} must be a positive number of seconds, not {value}"
        )))
    }
}

fn check_nick_prefix(prefix: &str) -> Result<(), Error> {
    let valid_first = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || "[]\\`_^{|}".contains(c));
    let valid_rest = prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c));
    if valid_first && valid_rest && prefix.len() <= 16 {
        Ok(())
    } else {
        Err(Error::Params(format!(
            "--nick-prefix {prefix:?} must be 1 to 16 nickname characters starting with a letter"
        )))
    }
}

/// A channel name every server accepts: `#` or `&`, then printable characters without space,
/// comma or BELL, at most 50 bytes in all (ngIRCd's default limit).
fn check_channel(name: &str) -> Result<(), Error> {
    let valid = (name.starts_with('#') || name.starts_with('&'))
        && name.len() >= 2
        && name.len() <= 50
        && name[1..]
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != 7);
    if valid {
        Ok(())
    } else {
        Err(Error::Params(format!(
            "channel {name:?} must start with # or & and contain no spaces or commas (2 to 50 bytes)"
        )))
    }
}

fn check_count(name: &str, value: usize, min: usize) -> Result<(), Error> {
    if value < min {
        return Err(Error::Params(format!("--{name} must be at least {min}")));
    }
    Ok(())
}

/// Traffic-run settings from the shared flags.
fn settings(
    options: &TrafficOptions,
    deadline: Instant,
    server_pid: Option<u32>,
) -> Result<Settings, Error> {
    if options.pad > 400 {
        return Err(Error::Params(
            "--pad must be at most 400 bytes (IRC lines are limited to 512)".to_owned(),
        ));
    }
    check_count("setup-concurrency", options.setup_concurrency, 1)?;
    if let Some(pid) = server_pid {
        procfs::check_pid(pid)?;
    }
    Ok(Settings {
        deadline,
        setup_concurrency: options.setup_concurrency,
        drain: seconds("drain", options.drain)?,
        server_pid,
    })
}

/// Run a traffic plan and summarise it, as the three traffic scenarios do.
async fn run_traffic<P: Serialize>(
    scenario: &'static str,
    plan: Plan,
    settings: Settings,
    params: P,
    label: &str,
    per_node: bool,
) -> Report<P, summary::TrafficFigures> {
    let started = Instant::now();
    let plan = Arc::new(plan);
    let outcome = traffic::run(plan.clone(), settings).await;
    let timed_out = outcome.timed_out;
    let figures = summary::summarize(&plan, outcome, per_node);
    Report {
        scenario,
        label: label.to_owned(),
        timed_out,
        elapsed_secs: started.elapsed().as_secs_f64(),
        params,
        figures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_prefixes() {
        for ok in ["lg", "a", "x-1", "[bot]", "abcdefghijklmnop"] {
            assert!(check_nick_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1lg",
            "-x",
            "a b",
            "é",
            "abcdefghijklmnopq",
            "a,b",
            "a:b",
        ] {
            assert!(check_nick_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_names() {
        for ok in ["#bench", "&local", "#a.b-c_d[1]"] {
            assert!(check_channel(ok).is_ok(), "{ok}");
        }
        let long = format!("#{}", "x".repeat(50));
        for bad in ["bench", "#", "#a b", "#a,b", "#a\u{7}", long.as_str(), "#é"] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(seconds("t", 1.5).unwrap(), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e10] {
            assert!(seconds("t", bad).is_err(), "{bad}");
        }
    }
}
