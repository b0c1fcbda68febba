//! The message-traffic engine behind `fanout`, `channels` and `cross`: it runs a [`Plan`] in
//! phases so the clock only measures delivery. Setup (connect, register, join, bounded
//! concurrency), then a barrier (a marker in every channel, repeated until every member saw one,
//! which also proves cross-server routes exist), then the measured phase (senders send, receivers
//! time deliveries), then a drain until every expected delivery arrived or the drain time ran out.

pub mod client;
pub mod plan;
pub mod summary;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout_at, Duration, Instant};

use crate::procfs::{self, CpuSample, CpuUsage};
use client::{ClientReport, Command, Event, Shared};
pub use plan::{ClientPlan, Pacing, Plan};

/// How often markers are sent again while some member has not seen one yet.
const MARKER_INTERVAL: Duration = Duration::from_millis(500);
/// How long stopped clients get to say QUIT and hand in their figures.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Polling interval while waiting for the last deliveries.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Bounds and options of a run that are not part of the plan.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Nothing runs past this instant.
    pub deadline: Instant,
    /// Clients connecting, registering and joining at once.
    pub setup_concurrency: usize,
    /// After the last message is sent, how long to wait for outstanding deliveries.
    pub drain: Duration,
    /// Server process to sample CPU time of over the measured phase.
    pub server_pid: Option<u32>,
}

/// Everything a traffic run observed, for [`summary::summarize`].
#[derive(Debug)]
pub struct Outcome {
    /// Per-client figures, by client index (clients that did not stop in time have defaults).
    pub reports: Vec<ClientReport>,
    /// Which clients were in their channels when sending started.
    pub present: Vec<bool>,
    /// Whether the overall deadline cut the run short.
    pub timed_out: bool,
    /// The last phase reached: "setup", "barrier", "send", "drain" or "done".
    pub phase: &'static str,
    /// Clients that had to be aborted because they did not stop within the grace time.
    pub aborted: usize,
    /// Seconds from the start to the end of setup and barrier.
    pub setup_secs: f64,
    /// Nanoseconds since the epoch at which sending started, if it did.
    pub go_ns: Option<u64>,
    /// Seconds from the start signal until every sender was done.
    pub send_secs: Option<f64>,
    /// Server CPU use over the measured phase, if a PID was given.
    pub cpu: Option<Result<CpuUsage, String>>,
    /// Percent of the machine's CPU time the host took (steal) over the measured phase.
    pub host_steal_percent: Option<f64>,
    /// CPU the whole machine used over the measured phase (server, load generator, kernel), as
    /// a percentage of one core.
    pub machine_cpu_percent: Option<f64>,
}

/// What the coordinator knows about each client from its events.
struct Book {
    status: Vec<Status>,
    pending: usize,
    markers_seen: Vec<bool>,
    sent: Vec<Option<Vec<u64>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Joined,
    Failed,
    Gone,
}

impl Book {
    fn new(clients: usize) -> Self {
        Self {
            status: vec![Status::Pending; clients],
            pending: clients,
            markers_seen: vec![false; clients],
            sent: vec![None; clients],
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Joined(idx) => self.settle(idx, Status::Joined),
            Event::SetupFailed(idx) => self.settle(idx, Status::Failed),
            Event::MarkersSeen(idx) => self.markers_seen[idx] = true,
            Event::SendDone(idx, counts) => self.sent[idx] = Some(counts),
            Event::Disconnected(idx, counts) => {
                self.settle(idx, Status::Gone);
                self.sent[idx] = Some(counts);
            }
        }
    }

    fn settle(&mut self, idx: usize, status: Status) {
        if self.status[idx] == Status::Pending {
            self.pending -= 1;
        }
        self.status[idx] = status;
    }

    fn alive(&self, idx: usize) -> bool {
        self.status[idx] == Status::Joined
    }

    fn count(&self, status: Status) -> usize {
        self.status.iter().filter(|s| **s == status).count()
    }
}

/// Run `plan` to the end (or the deadline) and collect every client's figures.
pub async fn run(plan: Arc<Plan>, settings: Settings) -> Outcome {
    let epoch = Instant::now();
    let clients = plan.clients.len();
    let shared = Arc::new(Shared {
        plan,
        epoch,
        deadline: settings.deadline,
        setup_slots: Semaphore::new(settings.setup_concurrency.max(1)),
        received: AtomicU64::new(0),
    });
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let mut commands = Vec::with_capacity(clients);
    let mut handles = Vec::with_capacity(clients);
    for idx in 0..clients {
        let (tx, rx) = mpsc::unbounded_channel();
        commands.push(tx);
        handles.push(tokio::spawn(client::run(
            idx,
            shared.clone(),
            rx,
            event_tx.clone(),
        )));
    }
    drop(event_tx);
    let mut book = Book::new(clients);
    let deadline = settings.deadline;
    let mut run = Run {
        phase: "setup",
        timed_out: false,
        setup_secs: 0.0,
        go: None,
        send_secs: None,
        cpu: None,
        host_steal_percent: None,
        machine_cpu_percent: None,
        present: vec![false; clients],
    };
    run.drive(&shared, &settings, &mut book, &mut events, &commands)
        .await;
    for tx in &commands {
        let _ = tx.send(Command::Stop);
    }
    let (reports, aborted) = collect(handles, &shared.plan).await;
    if run.timed_out {
        eprintln!(
            "loadgen: deadline reached during the {} phase; figures are partial",
            run.phase
        );
    }
    Outcome {
        reports,
        present: run.present,
        timed_out: run.timed_out || Instant::now() > deadline,
        phase: run.phase,
        aborted,
        setup_secs: run.setup_secs,
        go_ns: run
            .go
            .map(|go| u64::try_from(go.duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)),
        send_secs: run.send_secs,
        cpu: run.cpu,
        host_steal_percent: run.host_steal_percent,
        machine_cpu_percent: run.machine_cpu_percent,
    }
}

struct Run {
    phase: &'static str,
    timed_out: bool,
    setup_secs: f64,
    go: Option<Instant>,
    send_secs: Option<f64>,
    cpu: Option<Result<CpuUsage, String>>,
    host_steal_percent: Option<f64>,
    machine_cpu_percent: Option<f64>,
    present: Vec<bool>,
}

impl Run {
    /// Steal and the machine's CPU use since `before` (the start of the measured phase), when
    /// both samples could be read.
    fn note_host_usage(&mut self, before: Option<procfs::HostSample>) {
        let (Some(before), Ok(after)) = (before, procfs::host_sample()) else {
            return;
        };
        self.host_steal_percent = procfs::host_steal_percent(before, after);
        self.machine_cpu_percent = procfs::machine_cpu_percent(before, after);
    }

    async fn drive(
        &mut self,
        shared: &Shared,
        settings: &Settings,
        book: &mut Book,
        events: &mut mpsc::UnboundedReceiver<Event>,
        commands: &[mpsc::UnboundedSender<Command>],
    ) {
        let plan = &shared.plan;
        let deadline = settings.deadline;
        let clients = plan.clients.len();
        eprintln!("loadgen: setting up {clients} clients");
        if !wait(events, book, deadline, |b| b.pending == 0).await {
            self.timed_out = true;
            return;
        }
        eprintln!(
            "loadgen: {} joined, {} failed setup, {} disconnected; barrier",
            book.count(Status::Joined),
            book.count(Status::Failed),
            book.count(Status::Gone)
        );

        self.phase = "barrier";
        let mut round = 0;
        loop {
            let all_seen = |b: &Book| (0..clients).all(|i| !b.alive(i) || b.markers_seen[i]);
            if all_seen(book) {
                break;
            }
            if Instant::now() >= deadline {
                self.timed_out = true;
                return;
            }
            round += 1;
            send_markers(plan, book, commands, round);
            let until = (Instant::now() + MARKER_INTERVAL).min(deadline);
            wait(events, book, until, all_seen).await;
        }
        self.setup_secs = shared.epoch.elapsed().as_secs_f64();
        eprintln!(
            "loadgen: barrier passed after {round} marker round(s), {:.2} s from start; sending",
            self.setup_secs
        );

        self.phase = "send";
        self.present = (0..clients).map(|i| book.alive(i)).collect();
        let cpu_before = settings.server_pid.map(procfs::cpu_sample);
        let host_before = procfs::host_sample().ok();
        let go = Instant::now();
        self.go = Some(go);
        for (idx, tx) in commands.iter().enumerate() {
            if self.present[idx] {
                let _ = tx.send(Command::Go(go));
            }
        }
        let present = self.present.clone();
        let senders_done = |b: &Book| {
            (0..clients).all(|i| !present[i] || !plan.clients[i].sends || b.sent[i].is_some())
        };
        if !wait(events, book, deadline, senders_done).await {
            self.timed_out = true;
            self.cpu = finish_cpu(settings, cpu_before);
            self.note_host_usage(host_before);
            return;
        }
        self.send_secs = Some(go.elapsed().as_secs_f64());

        self.phase = "drain";
        let sent: Vec<Vec<u64>> = book
            .sent
            .iter()
            .map(|s| s.clone().unwrap_or_default())
            .collect();
        let expected = plan.expected_deliveries(&sent, &self.present);
        eprintln!(
            "loadgen: all senders done after {:.2} s; waiting for {expected} deliveries",
            go.elapsed().as_secs_f64()
        );
        let drain_until = (Instant::now() + settings.drain).min(deadline);
        while shared.received.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
            while let Ok(event) = events.try_recv() {
                book.apply(event);
            }
            sleep(DRAIN_POLL).await;
        }
        self.cpu = finish_cpu(settings, cpu_before);
        self.note_host_usage(host_before);
        if shared.received.load(Ordering::Relaxed) < expected && Instant::now() >= deadline {
            self.timed_out = true;
            return;
        }
        self.phase = "done";
    }
}

fn finish_cpu(
    settings: &Settings,
    before: Option<Result<CpuSample, crate::error::Error>>,
) -> Option<Result<CpuUsage, String>> {
    let pid = settings.server_pid?;
    let before = before?;
    let usage = before.and_then(|before| {
        let after = procfs::cpu_sample(pid)?;
        procfs::cpu_usage(before, after)
    });
    Some(usage.map_err(|err| err.to_string()))
}

/// One barrier round: in each channel, its first live member sends a marker; every other live
/// member must see a marker in each channel that has a live marker sender.
fn send_markers(plan: &Plan, book: &Book, commands: &[mpsc::UnboundedSender<Command>], round: u32) {
    let duty: Vec<Option<usize>> = (0..plan.channels.len())
        .map(|c| {
            plan.members(c)
                .iter()
                .map(|m| *m as usize)
                .find(|m| book.alive(*m))
        })
        .collect();
    for (idx, tx) in commands.iter().enumerate() {
        if !book.alive(idx) {
            continue;
        }
        let channels = &plan.clients[idx].channels;
        let send_on: Vec<usize> = channels
            .iter()
            .copied()
            .filter(|c| duty[*c] == Some(idx))
            .collect();
        if send_on.is_empty() && book.markers_seen[idx] {
            continue;
        }
        let expect_on = channels
            .iter()
            .copied()
            .filter(|c| duty[*c].is_some_and(|d| d != idx))
            .collect();
        let _ = tx.send(Command::Marker {
            round,
            send_on,
            expect_on,
        });
    }
}

/// Apply events until `done` holds (true) or `until` passes or every client ended (`done` then).
async fn wait(
    events: &mut mpsc::UnboundedReceiver<Event>,
    book: &mut Book,
    until: Instant,
    done: impl Fn(&Book) -> bool,
) -> bool {
    loop {
        if done(book) {
            return true;
        }
        match timeout_at(until, events.recv()).await {
            Ok(Some(event)) => book.apply(event),
            Ok(None) | Err(_) => return done(book),
        }
    }
}

/// Wait for every client task to hand in its report, aborting those still running after
/// [`STOP_GRACE`]; aborted clients get default (empty) reports.
async fn collect(
    handles: Vec<JoinHandle<ClientReport>>,
    plan: &Plan,
) -> (Vec<ClientReport>, usize) {
    let grace = Instant::now() + STOP_GRACE;
    let mut reports = Vec::with_capacity(handles.len());
    let mut aborted = 0;
    for (handle, client) in handles.into_iter().zip(&plan.clients) {
        let abort = handle.abort_handle();
        match timeout_at(grace, handle).await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(_)) | Err(_) => {
                abort.abort();
                aborted += 1;
                reports.push(ClientReport {
                    node: client.node,
                    ..ClientReport::default()
                });
            }
        }
    }
    (reports, aborted)
}
