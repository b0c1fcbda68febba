//! `channels`: N clients spread over M channels, each in `per_client` of them, all sending at a
//! steady rate for a fixed time. Measures a server under a realistic many-channel load,
//! including its CPU use.

use super::{check_channel, check_count, deadline, run_traffic, seconds, settings, Report};
use crate::cli::ChannelsArgs;
use crate::error::Error;
use crate::scenario::fanout::spread;
use crate::traffic::summary::TrafficFigures;
use crate::traffic::{ClientPlan, Pacing, Plan};

/// Check the parameters, run the scenario and report.
pub async fn run(args: ChannelsArgs) -> Result<Report<ChannelsArgs, TrafficFigures>, Error> {
    let deadline = deadline(&args.common)?;
    let plan = plan(&args)?;
    let settings = settings(&args.traffic, deadline, args.server_pid)?;
    let label = args.common.label.clone();
    Ok(run_traffic("channels", plan, settings, args, &label, false).await)
}

fn plan(args: &ChannelsArgs) -> Result<Plan, Error> {
    check_count("clients", args.clients, 2)?;
    check_count("channels", args.channels, 1)?;
    check_count("per-client", args.per_client, 1)?;
    if args.per_client > args.channels {
        return Err(Error::Params(
            "--per-client cannot exceed --channels".to_owned(),
        ));
    }
    let duration = seconds("duration", args.duration)?;
    let messages = (args.rate * duration.as_secs_f64()).round();
    if !(messages >= 1.0 && messages <= f64::from(u32::MAX)) {
        return Err(Error::Params(format!(
            "--rate x --duration must give at least one message per client (got {messages})"
        )));
    }
    let channels: Vec<String> = (0..args.channels)
        .map(|c| format!("{}{c}", args.channel_prefix))
        .collect();
    for name in [&channels[0], &channels[channels.len() - 1]] {
        check_channel(name)?;
    }
    let clients = (0..args.clients)
        .map(|idx| ClientPlan {
            node: 0,
            nick: format!("{}{idx}", args.common.nick_prefix),
            channels: assignment(idx, args.per_client, args.channels),
            sends: true,
            phase: spread(idx, args.clients, Some(args.rate)),
        })
        .collect();
    Plan::new(
        vec![args.addr],
        channels,
        clients,
        messages as u32,
        Pacing::PerSecond(args.rate),
        args.traffic.pad,
    )
}

/// Channels of client `idx`: `per_client` consecutive ones starting at `idx * per_client`,
/// modulo `channels`. Distinct when `per_client <= channels`, and every channel gets the same
/// number of members (within one) whatever the client count.
fn assignment(idx: usize, per_client: usize, channels: usize) -> Vec<usize> {
    (0..per_client)
        .map(|j| (idx * per_client + j) % channels)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Scenario};
    use clap::Parser;

    fn args(extra: &[&str]) -> ChannelsArgs {
        let mut argv = vec!["latticed-loadgen", "channels"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().scenario {
            Scenario::Channels(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn assignment_is_distinct_and_balanced() {
        for (clients, per_client, channels) in [(1000, 3, 100), (7, 3, 5), (10, 4, 4), (3, 1, 10)] {
            let mut members = vec![0usize; channels];
            for idx in 0..clients {
                let mine = assignment(idx, per_client, channels);
                let mut sorted = mine.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), per_client);
                for c in mine {
                    members[c] += 1;
                }
            }
            let (min, max) = (members.iter().min().unwrap(), members.iter().max().unwrap());
            assert!(max - min <= 1, "{members:?}");
        }
    }

    #[test]
    fn plan_sends_rate_times_duration_messages() {
        let plan = plan(&args(&[
            "--clients",
            "6",
            "--channels",
            "3",
            "--per-client",
            "2",
            "--rate",
            "2",
            "--duration",
            "1.5",
        ]))
        .unwrap();
        assert_eq!(plan.messages_per_sender, 3);
        assert_eq!(plan.channels[2], "#lg2");
        assert!(plan
            .clients
            .iter()
            .all(|c| c.sends && c.channels.len() == 2));
        assert_eq!(plan.members(0).len(), 4);
    }

    #[test]
    fn refuses_impossible_parameters() {
        assert!(plan(&args(&["--per-client", "5", "--channels", "4"])).is_err());
        assert!(plan(&args(&["--rate", "0.01", "--duration", "1"])).is_err());
        assert!(plan(&args(&["--duration", "0"])).is_err());
        assert!(plan(&args(&["--channels", "0"])).is_err());
        assert!(plan(&args(&["--channel-prefix", "lg"])).is_err());
    }
}
