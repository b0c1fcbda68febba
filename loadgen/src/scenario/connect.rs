//! `connect`: a registration storm. N clients register (NICK/USER until the end of the MOTD) with
//! at most K in flight; then all stay connected and idle while the server's memory is read, to
//! give its resident memory per connection.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep, timeout_at, Duration, Instant};

use super::{check_count, deadline, Report};
use crate::cli::ConnectArgs;
use crate::conn::{react, Conn, ConnError, NumericCounts, Reaction};
use crate::error::Error;
use crate::line;
use crate::procfs;
use crate::stats::{self, LatencySummary};

/// How long stopped clients get to say QUIT.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Figures of a registration storm.
#[derive(Debug, Serialize)]
pub struct ConnectFigures {
    /// Clients asked for.
    pub clients_requested: usize,
    /// Clients that completed registration.
    pub registered: usize,
    /// Registration failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Registered clients the server disconnected while idle, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Error numerics received, by numeric.
    pub error_numerics: BTreeMap<u16, u64>,
    /// Seconds from the first connection attempt to the last completed registration.
    pub registration_secs: f64,
    /// Completed registrations per second over that time.
    pub registrations_per_sec: f64,
    /// Time from opening the connection to the end of the MOTD.
    pub registration_latency_ms: Option<LatencySummary>,
    /// Server resident memory before the first connection, with --server-pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_before_bytes: Option<u64>,
    /// Server resident memory with every client registered and idle, with --server-pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_after_bytes: Option<u64>,
    /// The difference divided by the clients registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_connection_bytes: Option<f64>,
    /// Why the server memory could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_error: Option<String>,
}

/// What one client did.
#[derive(Debug, Default)]
struct ClientOutcome {
    registered: bool,
    failure: Option<String>,
    disconnect: Option<String>,
    numerics: NumericCounts,
}

/// Sent when a client's registration ends: latency and completion time in nanoseconds.
enum Event {
    Registered { latency_ns: u64, done_ns: u64 },
    Failed,
}

/// Check the parameters, run the storm and report.
pub async fn run(args: ConnectArgs) -> Result<Report<ConnectArgs, ConnectFigures>, Error> {
    let deadline = deadline(&args.common)?;
    check_count("clients", args.clients, 1)?;
    check_count("concurrency", args.concurrency, 1)?;
    let rss_before = args.server_pid.map(procfs::vm_rss_bytes).transpose()?;
    let epoch = Instant::now();
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    eprintln!(
        "loadgen: registering {} clients, {} at a time",
        args.clients, args.concurrency
    );
    let handles: Vec<_> = (0..args.clients)
        .map(|idx| {
            let client = Client {
                addr: args.addr,
                nick: format!("{}{idx}", args.common.nick_prefix),
                epoch,
                deadline,
                slots: slots.clone(),
                events: events_tx.clone(),
                stop: stop.clone(),
            };
            tokio::spawn(client.run())
        })
        .collect();
    drop(events_tx);

    let mut latencies = Vec::with_capacity(args.clients);
    let mut last_done_ns = 0;
    let mut settled = 0;
    while settled < args.clients {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Registered {
                latency_ns,
                done_ns,
            })) => {
                latencies.push(latency_ns);
                last_done_ns = last_done_ns.max(done_ns);
                settled += 1;
            }
            Ok(Some(Event::Failed)) => settled += 1,
            Ok(None) | Err(_) => break,
        }
    }
    let timed_out = settled < args.clients;
    eprintln!(
        "loadgen: {} registered, {} failed{}",
        latencies.len(),
        settled - latencies.len(),
        if timed_out { ", deadline reached" } else { "" }
    );

    let mut rss_after = None;
    let mut rss_error = None;
    if let Some(pid) = args.server_pid {
        let settle = Duration::from_millis(args.settle_ms);
        if Instant::now() + settle < deadline {
            sleep(settle).await;
        }
        match procfs::vm_rss_bytes(pid) {
            Ok(bytes) => rss_after = Some(bytes),
            Err(err) => rss_error = Some(err.to_string()),
        }
    }
    let _ = stop_tx.send(true);
    let outcomes = collect(handles).await;

    let registered = latencies.len();
    let registration_secs = last_done_ns as f64 / 1e9;
    let figures = ConnectFigures {
        clients_requested: args.clients,
        registered,
        failures: count_reasons(outcomes.iter().filter_map(|o| o.failure.clone())),
        disconnects: count_reasons(outcomes.iter().filter_map(|o| o.disconnect.clone())),
        error_numerics: outcomes.iter().fold(BTreeMap::new(), |mut all, o| {
            for (numeric, count) in &o.numerics {
                *all.entry(*numeric).or_insert(0) += count;
            }
            all
        }),
        registration_secs,
        registrations_per_sec: if registration_secs > 0.0 {
            registered as f64 / registration_secs
        } else {
            0.0
        },
        registration_latency_ms: stats::summarize(&mut latencies),
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        rss_per_connection_bytes: match (rss_before, rss_after) {
            (Some(before), Some(after)) if registered > 0 => {
                Some((after as f64 - before as f64) / registered as f64)
            }
            _ => None,
        },
        server_rss_error: rss_error,
    };
    let label = args.common.label.clone();
    Ok(Report {
        scenario: "connect",
        label,
        timed_out,
        elapsed_secs: epoch.elapsed().as_secs_f64(),
        params: args,
        figures,
    })
}

fn count_reasons(reasons: impl Iterator<Item = String>) -> BTreeMap<String, u64> {
    reasons.fold(BTreeMap::new(), |mut counts, reason| {
        *counts.entry(reason).or_insert(0) += 1;
        counts
    })
}

/// Outcomes of all clients; those that do not stop within [`STOP_GRACE`] are aborted and
/// counted as a failure of their own.
async fn collect(handles: Vec<tokio::task::JoinHandle<ClientOutcome>>) -> Vec<ClientOutcome> {
    let grace = Instant::now() + STOP_GRACE;
    let mut outcomes = Vec::with_capacity(handles.len());
    for handle in handles {
        let abort = handle.abort_handle();
        match timeout_at(grace, handle).await {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(_)) | Err(_) => {
                abort.abort();
                outcomes.push(ClientOutcome {
                    failure: Some("did not stop in time".to_owned()),
                    ..ClientOutcome::default()
                });
            }
        }
    }
    outcomes
}

struct Client {
    addr: std::net::SocketAddr,
    nick: String,
    epoch: Instant,
    deadline: Instant,
    slots: Arc<Semaphore>,
    events: mpsc::UnboundedSender<Event>,
    stop: watch::Receiver<bool>,
}

impl Client {
    async fn run(mut self) -> ClientOutcome {
        let mut outcome = ClientOutcome::default();
        let registered = self.register(&mut outcome.numerics).await;
        let conn = match registered {
            Ok((conn, latency_ns)) => {
                let done_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let _ = self.events.send(Event::Registered {
                    latency_ns,
                    done_ns,
                });
                outcome.registered = true;
                conn
            }
            Err(err) => {
                outcome.failure = Some(err.reason());
                let _ = self.events.send(Event::Failed);
                return outcome;
            }
        };
        if let Err(reason) = self.idle(conn, &mut outcome.numerics).await {
            outcome.disconnect = Some(reason);
        }
        outcome
    }

    async fn register(&self, numerics: &mut NumericCounts) -> Result<(Conn, u64), ConnError> {
        let _slot = timeout_at(self.deadline, self.slots.acquire())
            .await
            .map_err(|_| ConnError::Timeout)?
            .map_err(|_| ConnError::Timeout)?;
        let started = Instant::now();
        let mut conn = Conn::connect(self.addr, self.deadline).await?;
        conn.register(&self.nick, self.deadline, numerics).await?;
        let latency = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Ok((conn, latency))
    }

    /// Stay connected, answering PINGs, until told to stop; `Err` if the server ends it first.
    async fn idle(&mut self, mut conn: Conn, numerics: &mut NumericCounts) -> Result<(), String> {
        loop {
            while let Some(raw) = conn.lines.next_line() {
                if let Ok(msg) = line::parse(raw) {
                    if let Reaction::Closed(reason) = react(&msg, &mut conn.out, numerics) {
                        return Err(format!("ERROR: {reason}"));
                    }
                }
            }
            conn.flush().await.map_err(|err| err.reason())?;
            if *self.stop.borrow() {
                conn.quit().await;
                return Ok(());
            }
            tokio::select! {
                filled = conn.fill() => filled.map_err(|err| err.reason())?,
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        conn.quit().await;
                        return Ok(());
                    }
                }
            }
        }
    }
}
