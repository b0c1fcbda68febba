//! `latticed`: run a node, check a configuration file, make a development TLS certificate, or make
//! the certificates of a cluster (its CA, and one certificate per node).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use latticed_config::Config;

#[derive(Parser)]
#[command(name = "latticed", version, about = "A distributed IRC server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. Without --config, built-in defaults: one tenant "default", clients on
    /// 127.0.0.1:6667, admin (metrics, health) on 127.0.0.1:6680.
    Run {
        /// TOML configuration file (see cluster-config/examples/single-node.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Join a running cluster through this node's cluster address (HOST:PORT); needs a
        /// [cluster] section with this node's certificate and the cluster secret.
        #[arg(long)]
        join: Option<std::net::SocketAddr>,
    },
    /// Validate a configuration file; errors name the file, the key and the reason.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Print a tenant's state at an instant as JSON, rebuilt from a data directory's event log
    /// (the node must be stopped). With --diff, print what changed between two instants.
    Replay {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The instant: Unix milliseconds or ISO 8601 (2026-11-22T03:40:00Z). Default: now.
        #[arg(long, conflicts_with = "diff")]
        at: Option<String>,
        /// Two instants: print what changed between them.
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        diff: Option<Vec<String>>,
    },
    /// Print events (ops and messages) from a data directory's event log, one JSON object a line.
    Events {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// From this instant (Unix ms or ISO 8601).
        #[arg(long)]
        from: Option<String>,
        /// Up to this instant (Unix ms or ISO 8601).
        #[arg(long)]
        to: Option<String>,
        /// Only this kind of event (message, join, leave, set_topic, user_arrive, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only events about this #channel or user id.
        #[arg(long)]
        target: Option<String>,
        /// At most this many events.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write a self-signed certificate and key (cert.pem, key.pem) for development TLS.
    GenCert {
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Host names the certificate is for.
        #[arg(long = "name", default_value = "localhost")]
        names: Vec<String>,
    },
    /// Make a cluster CA: ca.pem (give it to every node as cluster.ca) and ca.key (keep it safe,
    /// it signs node certificates). Existing files are never overwritten.
    ClusterCa {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Cluster name shown in the CA certificate.
        #[arg(long, default_value = "latticed")]
        name: String,
    },
    /// Issue a node certificate signed by the cluster CA: <NAME>.pem and <NAME>.key, for the
    /// node whose node.name is NAME. Existing files are never overwritten.
    NodeCert {
        /// Directory holding ca.pem and ca.key (as written by cluster-ca).
        #[arg(long)]
        ca: PathBuf,
        /// The node's node.name, a DNS name such as irc1.example.net.
        #[arg(long)]
        name: String,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            println!(
                "{}: ok ({} tenant(s), node {} \"{}\")",
                file.display(),
                config.tenants.len(),
                config.node.id,
                config.node.name
            );
            Ok(())
        }
        Command::GenCert { out, names } => {
            latticed::tls::install_crypto_provider();
            let (cert, key) = latticed::tls::write_self_signed(&out, &names)?;
            println!("wrote {} and {}", cert.display(), key.display());
            Ok(())
        }
        Command::ClusterCa { out, name } => {
            let files = latticed_cluster::pki::write_ca(&out, &name)?;
            println!("wrote {} and {}", files.cert.display(), files.key.display());
            Ok(())
        }
        Command::NodeCert { ca, name, out } => {
            let files = latticed_cluster::pki::write_node_cert(&ca, &name, &out)?;
            println!("wrote {} and {}", files.cert.display(), files.key.display());
            Ok(())
        }
        Command::Run { config, join } => run(config, join),
        Command::Replay {
            data,
            tenant,
            at,
            diff,
        } => {
            let log = latticed::inspect::open_existing(&data)?;
            let out = match diff {
                Some(times) => latticed::inspect::diff(
                    &log,
                    &tenant,
                    latticed::inspect::parse_time(&times[0])?,
                    latticed::inspect::parse_time(&times[1])?,
                )?,
                None => {
                    let at = match at {
                        Some(at) => latticed::inspect::parse_time(&at)?,
                        None => latticed_actors::time::unix_now_ms(),
                    };
                    latticed::inspect::replay(&log, &tenant, at)?
                }
            };
            print!("{out}");
            Ok(())
        }
        Command::Events {
            data,
            tenant,
            from,
            to,
            kind,
            target,
            limit,
        } => {
            let log = latticed::inspect::open_existing(&data)?;
            let query = latticed::inspect::EventQuery {
                tenant: Some(tenant),
                from: from
                    .as_deref()
                    .map(latticed::inspect::parse_time)
                    .transpose()?,
                to: to
                    .as_deref()
                    .map(latticed::inspect::parse_time)
                    .transpose()?,
                kind,
                target,
                limit,
            };
            for op in latticed::inspect::events(&log, &query)? {
                println!("{}", serde_json::to_string(&op)?);
            }
            Ok(())
        }
    }
}

fn run(path: Option<PathBuf>, join: Option<std::net::SocketAddr>) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match &path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let runtime = latticed::runtime::build(&config.node).with_context(|| {
        format!(
            "starting the async runtime with {} worker thread(s)",
            config.node.worker_threads
        )
    })?;
    runtime.block_on(async move {
        let options = latticed::StartOptions {
            config_path: path,
            join,
        };
        let node = latticed::start_with(config, options).await?;
        wait_for_signals(&node).await?;
        tracing::info!("shutting down");
        node.shutdown().await;
        Ok(())
    })
}

#[cfg(unix)]
async fn wait_for_signals(node: &latticed::RunningNode) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = node.stopped() => return Ok(()),
            _ = hup.recv() => {
                if let Err(err) = latticed::rehash(node) {
                    tracing::error!(%err, "SIGHUP: reload failed; keeping the running configuration");
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(node: &latticed::RunningNode) -> Result<()> {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = node.stopped() => Ok(()),
    }
}
