//! `connect`: a registration storm. N clients register (NICK/USER until the end of the MOTD) with
//! at most K in flight; then all stay connected and idle while the server's memory is read, to
//! give its resident memory per connection.
//!
//! With a server PID the storm runs in two halves, the server's memory read after each with every
//! client idle: the second half's growth divided by its clients is what one more connection costs
//! a server that already holds N/2, without the costs a server pays once, on its first clients
//! (caches, pools, buffers sized on first use), which the whole-run figure spreads over N.

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
    /// Server resident memory with the first half of the clients registered and idle, with
    /// --server-pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_half_bytes: Option<u64>,
    /// Growth from the half to the end divided by the clients the second half registered: the
    /// memory each further idle connection adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_added_connection_bytes: Option<f64>,
    /// Why the server memory could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_error: Option<String>,
    /// Percent of the machine's CPU time a virtual machine's host took (steal) from the first
    /// connection until every client settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_steal_percent: Option<f64>,
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
    let host_before = procfs::host_sample().ok();
    let epoch = Instant::now();
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    // Without a PID to read there is nothing to measure between the halves: one storm.
    let halves = args.server_pid.is_some() && args.clients >= 2;
    let first_half = if halves {
        args.clients / 2
    } else {
        args.clients
    };
    let (second_half_tx, second_half) = watch::channel(!halves);
    eprintln!(
        "loadgen: registering {} clients, {} at a time{}",
        args.clients,
        args.concurrency,
        if halves { ", in two halves" } else { "" }
    );
    let handles: Vec<_> = (0..args.clients)
        .map(|idx| {
            let client = Client {
                addr: args.addr,
                nick: format!("{}{idx}", args.common.nick_prefix),
                epoch,
                deadline,
                slots: slots.clone(),
                start: (idx >= first_half).then(|| second_half.clone()),
                events: events_tx.clone(),
                stop: stop.clone(),
            };
            tokio::spawn(client.run())
        })
        .collect();
    drop(events_tx);

    let settle = Duration::from_millis(args.settle_ms);
    let mut storm = Storm::default();
    storm.collect(&mut events, first_half, deadline).await;
    let mut rss_half = None;
    let mut rss_error = None;
    if halves {
        // The pause between the halves is not registration time.
        let paused = Instant::now();
        storm.first_half_registered = storm.latencies.len();
        match read_rss_settled(args.server_pid, settle, deadline).await {
            Some(Ok(bytes)) => rss_half = Some(bytes),
            Some(Err(err)) => rss_error = Some(err.to_string()),
            None => {}
        }
        storm.paused_ns += u64::try_from(paused.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let _ = second_half_tx.send(true);
        storm
            .collect(&mut events, args.clients - first_half, deadline)
            .await;
    }
    let settled = storm.settled;
    let host_steal_percent = host_before
        .zip(procfs::host_sample().ok())
        .and_then(|(before, after)| procfs::host_steal_percent(before, after));
    let mut latencies = std::mem::take(&mut storm.latencies);
    let timed_out = settled < args.clients;
    eprintln!(
        "loadgen: {} registered, {} failed{}",
        latencies.len(),
        settled - latencies.len(),
        if timed_out { ", deadline reached" } else { "" }
    );

    let mut rss_after = None;
    match read_rss_settled(args.server_pid, settle, deadline).await {
        Some(Ok(bytes)) => rss_after = Some(bytes),
        Some(Err(err)) => rss_error = Some(err.to_string()),
        None => {}
    }
    let _ = stop_tx.send(true);
    let outcomes = collect(handles).await;

    let registered = latencies.len();
    let registration_secs = storm.last_done_ns.saturating_sub(storm.paused_ns) as f64 / 1e9;
    let second_half_registered = registered.saturating_sub(storm.first_half_registered);
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
        server_rss_half_bytes: rss_half,
        rss_per_added_connection_bytes: match (rss_half, rss_after) {
            (Some(half), Some(after)) if second_half_registered > 0 => {
                Some((after as f64 - half as f64) / second_half_registered as f64)
            }
            _ => None,
        },
        server_rss_error: rss_error,
        host_steal_percent,
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

/// Registrations seen so far, over one or two halves.
#[derive(Default)]
struct Storm {
    latencies: Vec<u64>,
    /// Clients whose registration ended, completed or not.
    settled: usize,
    /// When the last registration completed, in nanoseconds since the first attempt.
    last_done_ns: u64,
    /// Time spent between the halves, not registering.
    paused_ns: u64,
    /// Registrations completed in the first half.
    first_half_registered: usize,
}

impl Storm {
    /// Takes the outcomes of `count` more clients, or fewer if the deadline comes first.
    async fn collect(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        count: usize,
        deadline: Instant,
    ) {
        let target = self.settled + count;
        while self.settled < target {
            match timeout_at(deadline, events.recv()).await {
                Ok(Some(Event::Registered {
                    latency_ns,
                    done_ns,
                })) => {
                    self.latencies.push(latency_ns);
                    self.last_done_ns = self.last_done_ns.max(done_ns);
                    self.settled += 1;
                }
                Ok(Some(Event::Failed)) => self.settled += 1,
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// The server's resident memory after letting it settle for `settle` (less if the deadline is
/// nearer); None without a PID.
async fn read_rss_settled(
    pid: Option<u32>,
    settle: Duration,
    deadline: Instant,
) -> Option<Result<u64, Error>> {
    let pid = pid?;
    if Instant::now() + settle < deadline {
        sleep(settle).await;
    }
    Some(procfs::vm_rss_bytes(pid))
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
    /// For a client of the second half: becomes true when that half may start.
    start: Option<watch::Receiver<bool>>,
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

    async fn register(&mut self, numerics: &mut NumericCounts) -> Result<(Conn, u64), ConnError> {
        if let Some(start) = self.start.as_mut() {
            timeout_at(self.deadline, start.wait_for(|go| *go))
                .await
                .map_err(|_| ConnError::Timeout)?
                .map_err(|_| ConnError::Timeout)?;
        }
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
