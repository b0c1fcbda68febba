//! What a message-traffic run will do, decided before any connection opens: which server each
//! client uses, which channels it joins, whether and how it sends. Scenarios differ only in the
//! plan they build; expected deliveries and receiver bookkeeping are derived from it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Error;

/// How a sender spaces its messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Everything at once (written in batches while still reading).
    Burst,
    /// This many messages per second per sender.
    PerSecond(f64),
}

/// One client of the plan.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// Index into [`Plan::nodes`]: the server this client connects to.
    pub node: usize,
    /// Nickname, unique across the run.
    pub nick: String,
    /// Indices into [`Plan::channels`], distinct. A sender cycles through them message by message.
    pub channels: Vec<usize>,
    /// Whether this client sends [`Plan::messages_per_sender`] messages after the start signal.
    pub sends: bool,
    /// Delay of this sender's first message after the start, to spread paced senders over time.
    pub phase: Duration,
}

/// A whole traffic run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Server addresses; a single-server scenario has one.
    pub nodes: Vec<SocketAddr>,
    /// Channel names.
    pub channels: Vec<String>,
    /// The clients; a client's index is its sender id in message payloads.
    pub clients: Vec<ClientPlan>,
    /// Messages each sender sends.
    pub messages_per_sender: u32,
    /// Spacing of each sender's messages.
    pub pacing: Pacing,
    /// Filler bytes appended to each message text.
    pub pad: usize,
    members: Vec<Vec<u32>>,
    senders_in: Vec<Vec<u32>>,
}

impl Plan {
    /// Check the plan and index channel membership.
    pub fn new(
        nodes: Vec<SocketAddr>,
        channels: Vec<String>,
        clients: Vec<ClientPlan>,
        messages_per_sender: u32,
        pacing: Pacing,
        pad: usize,
    ) -> Result<Self, Error> {
        if clients.is_empty() {
            return Err(Error::Params("a run needs at least one client".to_owned()));
        }
        if u32::try_from(clients.len()).is_err() {
            return Err(Error::Params("too many clients".to_owned()));
        }
        if let Pacing::PerSecond(rate) = pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::Params(format!(
                    "rate must be a positive number of messages per second, not {rate}"
                )));
            }
        }
        let mut members = vec![Vec::new(); channels.len()];
        let mut senders_in = vec![Vec::new(); channels.len()];
        for (idx, client) in clients.iter().enumerate() {
            if client.node >= nodes.len() {
                return Err(Error::Params(format!(
                    "client {idx} uses server {} of {}",
                    client.node,
                    nodes.len()
                )));
            }
            for (i, channel) in client.channels.iter().enumerate() {
                if *channel >= channels.len() || client.channels[..i].contains(channel) {
                    return Err(Error::Params(format!(
                        "client {idx} has an unknown or repeated channel {channel}"
                    )));
                }
                members[*channel].push(idx as u32);
                if client.sends {
                    senders_in[*channel].push(idx as u32);
                }
            }
            if client.sends && client.channels.is_empty() {
                return Err(Error::Params(format!("sender {idx} is in no channel")));
            }
        }
        Ok(Self {
            nodes,
            channels,
            clients,
            messages_per_sender,
            pacing,
            pad,
            members,
            senders_in,
        })
    }

    /// Clients in `channel`, ascending.
    pub fn members(&self, channel: usize) -> &[u32] {
        &self.members[channel]
    }

    /// Senders whose messages client `idx` should receive: every other sender sharing a channel.
    pub fn heard_by(&self, idx: usize) -> Vec<u32> {
        let mut heard: Vec<u32> = self.clients[idx]
            .channels
            .iter()
            .flat_map(|c| self.senders_in[*c].iter().copied())
            .filter(|sender| *sender as usize != idx)
            .collect();
        heard.sort_unstable();
        heard.dedup();
        heard
    }

    /// The channel a sender's message `seq` goes to (senders cycle through their channels).
    pub fn target_of(&self, idx: usize, seq: u32) -> usize {
        let channels = &self.clients[idx].channels;
        channels[seq as usize % channels.len()]
    }

    /// Deliveries the messages actually sent should produce, over all receivers. `sent[i]` holds,
    /// per position in client `i`'s channel list, how many messages it sent there; `present[i]`
    /// says whether client `i` was in its channels when sending started.
    pub fn expected_deliveries(&self, sent: &[Vec<u64>], present: &[bool]) -> u64 {
        (0..self.clients.len())
            .map(|receiver| self.expected_for(receiver, sent, present))
            .sum()
    }

    /// Deliveries client `receiver` should get: every message another client sent to a channel
    /// they share, if the receiver was present when sending started.
    pub fn expected_for(&self, receiver: usize, sent: &[Vec<u64>], present: &[bool]) -> u64 {
        if !present.get(receiver).copied().unwrap_or(false) {
            return 0;
        }
        let mut total = 0;
        for channel in &self.clients[receiver].channels {
            for sender in &self.senders_in[*channel] {
                let sender = *sender as usize;
                if sender == receiver {
                    continue;
                }
                let position = self.clients[sender]
                    .channels
                    .iter()
                    .position(|c| c == channel);
                total += position
                    .and_then(|p| sent.get(sender)?.get(p).copied())
                    .unwrap_or(0);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(channels: Vec<usize>, sends: bool) -> ClientPlan {
        ClientPlan {
            node: 0,
            nick: "n".to_owned(),
            channels,
            sends,
            phase: Duration::ZERO,
        }
    }

    fn plan(clients: Vec<ClientPlan>, channels: usize) -> Result<Plan, Error> {
        Plan::new(
            vec!["127.0.0.1:1".parse().unwrap()],
            (0..channels).map(|c| format!("#c{c}")).collect(),
            clients,
            10,
            Pacing::Burst,
            0,
        )
    }

    #[test]
    fn heard_senders_are_co_members_except_self() {
        let plan = plan(
            vec![
                client(vec![0, 1], true),
                client(vec![1], true),
                client(vec![0], false),
                client(vec![2], true),
            ],
            3,
        )
        .unwrap();
        assert_eq!(plan.heard_by(0), vec![1]);
        assert_eq!(plan.heard_by(1), vec![0]);
        assert_eq!(plan.heard_by(2), vec![0]);
        assert_eq!(plan.heard_by(3), Vec::<u32>::new());
        assert_eq!(plan.members(0), &[0, 2]);
        assert_eq!(plan.target_of(0, 0), 0);
        assert_eq!(plan.target_of(0, 3), 1);
    }

    #[test]
    fn expected_counts_only_present_members() {
        let plan = plan(
            vec![
                client(vec![0, 1], true),
                client(vec![1], false),
                client(vec![0, 1], false),
                client(vec![0], false),
            ],
            2,
        )
        .unwrap();
        let sent = vec![vec![5, 4], vec![0], vec![0, 0], vec![0]];
        assert_eq!(plan.expected_deliveries(&sent, &[true; 4]), 5 * 2 + 4 * 2);
        assert_eq!(
            plan.expected_deliveries(&sent, &[true, true, false, true]),
            5 + 4
        );
        assert_eq!(plan.expected_for(0, &sent, &[true; 4]), 0);
        assert_eq!(plan.expected_for(1, &sent, &[true; 4]), 4);
        assert_eq!(plan.expected_for(2, &sent, &[true; 4]), 9);
        assert_eq!(plan.expected_for(2, &sent, &[true, true, false, true]), 0);
        assert_eq!(plan.expected_for(3, &sent, &[true; 4]), 5);
    }

    #[test]
    fn invalid_plans_are_errors() {
        assert!(plan(Vec::new(), 1).is_err());
        assert!(plan(vec![client(vec![1], false)], 1).is_err());
        assert!(plan(vec![client(vec![0, 0], false)], 1).is_err());
        assert!(plan(vec![client(Vec::new(), true)], 1).is_err());
        let mut far = client(vec![0], false);
        far.node = 1;
        assert!(plan(vec![far], 1).is_err());
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let bad = Plan::new(
                vec!["127.0.0.1:1".parse().unwrap()],
                vec!["#c".to_owned()],
                vec![client(vec![0], true)],
                1,
                Pacing::PerSecond(rate),
                0,
            );
            assert!(bad.is_err(), "{rate}");
        }
    }
}
