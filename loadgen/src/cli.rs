//! Command-line interface: one subcommand per scenario. Parameters are serialised into the report
//! so every JSON line says exactly what was measured.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::target::parse_loopback;

/// Load generator for IRC servers. Each run prints one JSON line of figures on stdout; progress
/// goes to stderr. Only loopback servers are accepted.
#[derive(Debug, Parser)]
#[command(name = "latticed-loadgen", version, about)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Many clients in one channel; a few of them send: delivery rate, latency, loss.
    Fanout(FanoutArgs),
    /// Many clients over many channels, everyone sending at a steady rate: delivery rate,
    /// latency and server CPU.
    Channels(ChannelsArgs),
    /// Register many clients with bounded concurrency: registration rate, failures and server
    /// memory per idle connection.
    Connect(ConnectArgs),
    /// Senders on one server, receivers on others of a linked network: cross-server delivery
    /// rate and per-server latency.
    Cross(CrossArgs),
}

/// Flags every scenario has.
#[derive(Debug, Clone, Args, Serialize)]
pub struct Common {
    /// Start of every nickname, followed by the client's number. Keep it short: ngIRCd allows
    /// nine characters by default.
    #[arg(long, default_value = "lg")]
    pub nick_prefix: String,
    /// Overall bound in seconds: the run stops by then and reports what it has.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Free text copied into the report, to tell runs apart in tables.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// Flags of the message-traffic scenarios.
#[derive(Debug, Clone, Args, Serialize)]
pub struct TrafficOptions {
    /// Clients connecting, registering and joining at once during setup.
    #[arg(long, default_value_t = 50)]
    pub setup_concurrency: usize,
    /// Seconds to wait for outstanding deliveries after the last message was sent.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Filler bytes appended to each message text.
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
}

/// `fanout`: one channel, C members, S senders.
#[derive(Debug, Clone, Args, Serialize)]
pub struct FanoutArgs {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:6667", value_parser = parse_loopback)]
    pub addr: SocketAddr,
    /// Clients in the channel, senders included.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// How many of the clients send.
    #[arg(long, default_value_t = 5)]
    pub senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 200)]
    pub messages: u32,
    /// Messages per second per sender; without it, senders send as fast as they can.
    #[arg(long)]
    pub rate: Option<f64>,
    /// The channel.
    #[arg(long, default_value = "#bench")]
    pub channel: String,
    /// Server process ID, to report its CPU use over the measured phase.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    #[serde(flatten)]
    pub traffic: TrafficOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// `channels`: N clients over M channels, everyone sending.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ChannelsArgs {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:6667", value_parser = parse_loopback)]
    pub addr: SocketAddr,
    /// Clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Channels.
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Channels each client joins (client i joins channels i*k .. i*k+k-1, modulo M).
    #[arg(long, default_value_t = 3)]
    pub per_client: usize,
    /// Messages per second each client sends, cycling through its channels.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Channel names are this prefix followed by the channel's number.
    #[arg(long, default_value = "#lg")]
    pub channel_prefix: String,
    /// Server process ID, to report its CPU use over the measured phase.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    #[serde(flatten)]
    pub traffic: TrafficOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// `connect`: a registration storm.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ConnectArgs {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:6667", value_parser = parse_loopback)]
    pub addr: SocketAddr,
    /// Clients to register.
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Server process ID, to report its memory per idle connection.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Milliseconds to let the server settle, all clients idle, before reading its memory.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// `cross`: one channel spanning linked servers.
#[derive(Debug, Clone, Args, Serialize)]
pub struct CrossArgs {
    /// The server the senders use (loopback only).
    #[arg(long, value_parser = parse_loopback)]
    pub sender_addr: SocketAddr,
    /// The other servers of the network, comma-separated (loopback only).
    #[arg(long, value_parser = parse_loopback, value_delimiter = ',', required = true)]
    pub receiver_addrs: Vec<SocketAddr>,
    /// Clients on each server, the sender's included.
    #[arg(long, default_value_t = 50)]
    pub clients_per_node: usize,
    /// How many of the sender server's clients send.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 200)]
    pub messages: u32,
    /// Messages per second per sender; without it, senders send as fast as they can.
    #[arg(long)]
    pub rate: Option<f64>,
    /// The channel.
    #[arg(long, default_value = "#bench")]
    pub channel: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub traffic: TrafficOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_cross_address_lists_and_refuses_remote_ones() {
        let cli = Cli::try_parse_from([
            "latticed-loadgen",
            "cross",
            "--sender-addr",
            "127.0.0.1:7000",
            "--receiver-addrs",
            "127.0.0.1:7001,127.0.0.1:7002",
        ])
        .unwrap();
        let Scenario::Cross(args) = cli.scenario else {
            panic!("parsed as another scenario");
        };
        assert_eq!(args.receiver_addrs.len(), 2);
        assert!(Cli::try_parse_from([
            "latticed-loadgen",
            "cross",
            "--sender-addr",
            "127.0.0.1:7000",
            "--receiver-addrs",
            "127.0.0.1:7001,192.168.1.1:7002",
        ])
        .is_err());
        assert!(
            Cli::try_parse_from(["latticed-loadgen", "fanout", "--addr", "10.1.1.1:6667"]).is_err()
        );
    }
}
