//! `latticed`: run a node, check a configuration file, or make a development TLS certificate.

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
    },
    /// Validate a configuration file; errors name the file, the key and the reason.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
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
        Command::Run { config } => run(config),
    }
}

fn run(path: Option<PathBuf>) -> Result<()> {
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let node = latticed::start_with_file(config, path).await?;
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
