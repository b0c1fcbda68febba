//! `cross`: one channel spanning a linked network. Senders use one server, receivers the
//! others, so every delivery crosses a server link; the sender server's own clients show the
//! local latency for comparison.

use super::{check_channel, check_count, deadline, run_traffic, settings, Report};
use crate::cli::CrossArgs;
use crate::error::Error;
use crate::scenario::fanout::spread;
use crate::traffic::summary::TrafficFigures;
use crate::traffic::{ClientPlan, Pacing, Plan};

/// Check the parameters, run the scenario and report (with per-server figures; the sender's
/// server is the first).
pub async fn run(args: CrossArgs) -> Result<Report<CrossArgs, TrafficFigures>, Error> {
    let deadline = deadline(&args.common)?;
    let plan = plan(&args)?;
    let settings = settings(&args.traffic, deadline, None)?;
    let label = args.common.label.clone();
    Ok(run_traffic("cross", plan, settings, args, &label, true).await)
}

fn plan(args: &CrossArgs) -> Result<Plan, Error> {
    check_count("clients-per-node", args.clients_per_node, 1)?;
    check_count("senders", args.senders, 1)?;
    check_count("messages", args.messages as usize, 1)?;
    if args.senders > args.clients_per_node {
        return Err(Error::Params(
            "--senders cannot exceed --clients-per-node".to_owned(),
        ));
    }
    check_channel(&args.channel)?;
    let mut nodes = vec![args.sender_addr];
    for addr in &args.receiver_addrs {
        if nodes.contains(addr) {
            return Err(Error::Params(format!("server {addr} is listed twice")));
        }
        nodes.push(*addr);
    }
    let per_node = args.clients_per_node;
    let clients = (0..nodes.len() * per_node)
        .map(|idx| ClientPlan {
            node: idx / per_node,
            nick: format!("{}{idx}", args.common.nick_prefix),
            channels: vec![0],
            sends: idx < args.senders,
            phase: spread(idx, args.senders, args.rate),
        })
        .collect();
    Plan::new(
        nodes,
        vec![args.channel.clone()],
        clients,
        args.messages,
        args.rate.map_or(Pacing::Burst, Pacing::PerSecond),
        args.traffic.pad,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Scenario};
    use clap::Parser;

    fn args(extra: &[&str]) -> CrossArgs {
        let mut argv = vec![
            "latticed-loadgen",
            "cross",
            "--sender-addr",
            "127.0.0.1:7000",
            "--receiver-addrs",
            "127.0.0.1:7001,127.0.0.1:7002",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().scenario {
            Scenario::Cross(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn senders_are_on_the_first_server_only() {
        let plan = plan(&args(&["--clients-per-node", "3", "--senders", "2"])).unwrap();
        assert_eq!(plan.nodes.len(), 3);
        let layout: Vec<(usize, bool)> = plan.clients.iter().map(|c| (c.node, c.sends)).collect();
        assert_eq!(
            layout,
            [
                (0, true),
                (0, true),
                (0, false),
                (1, false),
                (1, false),
                (1, false),
                (2, false),
                (2, false),
                (2, false)
            ]
        );
        assert_eq!(plan.clients[8].nick, "lg8");
    }

    #[test]
    fn refuses_impossible_parameters() {
        assert!(plan(&args(&["--clients-per-node", "2", "--senders", "3"])).is_err());
        assert!(plan(&args(&["--clients-per-node", "0"])).is_err());
        let mut twice = args(&[]);
        twice.receiver_addrs.push(twice.sender_addr);
        assert!(plan(&twice).is_err());
    }
}
