//! `fanout`: C clients in one channel, S of them send K messages each. Measures how fast and how
//! evenly one server copies a channel message to many members.

use std::time::Duration;

use super::{check_channel, check_count, deadline, run_traffic, settings, Report};
use crate::cli::FanoutArgs;
use crate::error::Error;
use crate::traffic::summary::TrafficFigures;
use crate::traffic::{ClientPlan, Pacing, Plan};

/// Check the parameters, run the scenario and report.
pub async fn run(args: FanoutArgs) -> Result<Report<FanoutArgs, TrafficFigures>, Error> {
    let deadline = deadline(&args.common)?;
    let plan = plan(&args)?;
    let settings = settings(&args.traffic, deadline, args.server_pid)?;
    let label = args.common.label.clone();
    Ok(run_traffic("fanout", plan, settings, args, &label, false).await)
}

/// Clients 0..S are the senders; paced senders are spread evenly over one message interval.
fn plan(args: &FanoutArgs) -> Result<Plan, Error> {
    check_count("clients", args.clients, 2)?;
    check_count("senders", args.senders, 1)?;
    check_count("messages", args.messages as usize, 1)?;
    if args.senders > args.clients {
        return Err(Error::Params(
            "--senders cannot exceed --clients".to_owned(),
        ));
    }
    check_channel(&args.channel)?;
    let pacing = args.rate.map_or(Pacing::Burst, Pacing::PerSecond);
    let clients = (0..args.clients)
        .map(|idx| ClientPlan {
            node: 0,
            nick: format!("{}{idx}", args.common.nick_prefix),
            channels: vec![0],
            sends: idx < args.senders,
            phase: spread(idx, args.senders, args.rate),
        })
        .collect();
    Plan::new(
        vec![args.addr],
        vec![args.channel.clone()],
        clients,
        args.messages,
        pacing,
        args.traffic.pad,
    )
}

/// Offset of sender `idx` of `senders` within one interval of `rate` (none when bursting).
pub(crate) fn spread(idx: usize, senders: usize, rate: Option<f64>) -> Duration {
    match rate {
        Some(rate) if rate.is_finite() && rate > 0.0 && idx < senders => {
            Duration::from_secs_f64(idx as f64 / senders as f64 / rate)
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Scenario};
    use clap::Parser;

    fn args(extra: &[&str]) -> FanoutArgs {
        let mut argv = vec!["latticed-loadgen", "fanout"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().scenario {
            Scenario::Fanout(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn first_clients_send_and_everyone_hears_the_others() {
        let plan = plan(&args(&[
            "--clients",
            "4",
            "--senders",
            "2",
            "--messages",
            "3",
        ]))
        .unwrap();
        let senders: Vec<bool> = plan.clients.iter().map(|c| c.sends).collect();
        assert_eq!(senders, [true, true, false, false]);
        assert_eq!(plan.heard_by(0), vec![1]);
        assert_eq!(plan.heard_by(3), vec![0, 1]);
        let sent = vec![vec![3], vec![3], vec![0], vec![0]];
        assert_eq!(plan.expected_deliveries(&sent, &[true; 4]), 2 * 3 * 3);
        assert_eq!(plan.clients[2].nick, "lg2");
    }

    #[test]
    fn refuses_impossible_parameters() {
        assert!(plan(&args(&["--clients", "1"])).is_err());
        assert!(plan(&args(&["--clients", "3", "--senders", "4"])).is_err());
        assert!(plan(&args(&["--senders", "0"])).is_err());
        assert!(plan(&args(&["--messages", "0"])).is_err());
        assert!(plan(&args(&["--channel", "bench"])).is_err());
        assert!(plan(&args(&["--rate", "0"])).is_err());
    }

    #[test]
    fn paced_senders_are_spread_over_one_interval() {
        assert_eq!(spread(0, 4, Some(2.0)), Duration::ZERO);
        assert_eq!(spread(2, 4, Some(2.0)), Duration::from_millis(250));
        assert_eq!(spread(3, 4, None), Duration::ZERO);
        assert_eq!(spread(5, 4, Some(2.0)), Duration::ZERO);
    }
}
