//! One client of a traffic run, as a single task: set up (connect, register, join), then one loop
//! that reads and measures deliveries, obeys the coordinator (markers, start, stop) and, for a
//! sender, writes its paced messages, until told to stop or disconnected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::{sleep_until, timeout_at, Duration, Instant};

use super::plan::{Pacing, Plan};
use crate::conn::{irc_eq, react, Conn, ConnError, NumericCounts, Reaction};
use crate::line;
use crate::payload::{self, Payload, Stamp};
use crate::receipts::{Receipt, Receipts};

/// Most messages written per turn of the loop, so a bursting sender keeps reading in between.
const SEND_BATCH: u32 = 64;

/// State every client task of a run shares.
pub struct Shared {
    /// The run's plan.
    pub plan: Arc<Plan>,
    /// Time zero of every payload timestamp (all clients live in this process).
    pub epoch: Instant,
    /// The overall bound of the run.
    pub deadline: Instant,
    /// Limits how many clients connect, register and join at once.
    pub setup_slots: Semaphore,
    /// First deliveries of expected messages so far, over all clients.
    pub received: AtomicU64,
}

/// An order from the coordinator.
#[derive(Debug)]
pub enum Command {
    /// Send a marker (this round) in the `send_on` channels; report once markers were seen in
    /// every `expect_on` channel.
    Marker {
        /// Barrier round, carried in the marker text.
        round: u32,
        /// Channels this client sends the marker to.
        send_on: Vec<usize>,
        /// Channels this client must see a marker in.
        expect_on: Vec<usize>,
    },
    /// Start sending: the shared start instant of the measured phase.
    Go(Instant),
    /// Quit and report.
    Stop,
}

/// News for the coordinator.
#[derive(Debug)]
pub enum Event {
    /// Setup finished: registered and in every planned channel.
    Joined(usize),
    /// Setup failed (the reason is in the client's report).
    SetupFailed(usize),
    /// Markers seen in every expected channel.
    MarkersSeen(usize),
    /// A sender sent everything: counts per position in its channel list.
    SendDone(usize, Vec<u64>),
    /// The connection ended before the stop order (the reason is in the client's report); sent
    /// counts as in `SendDone`.
    Disconnected(usize, Vec<u64>),
}

/// What one client measured.
#[derive(Debug, Default)]
pub struct ClientReport {
    /// The server it used.
    pub node: usize,
    /// Why setup failed.
    pub setup_failure: Option<String>,
    /// Why the connection ended early, after setup.
    pub disconnect: Option<String>,
    /// Error numerics received.
    pub numerics: NumericCounts,
    /// Delivery latencies in nanoseconds, one per first delivery.
    pub latencies: Vec<u64>,
    /// First deliveries of expected messages.
    pub unique: u64,
    /// Repeated deliveries.
    pub duplicates: u64,
    /// Data messages from senders or sequence numbers outside the plan.
    pub unexpected: u64,
    /// Messages this client sent, per position in its channel list.
    pub sent_per_channel: Vec<u64>,
    /// When the last first delivery arrived, in nanoseconds since the epoch.
    pub last_delivery_ns: Option<u64>,
}

/// Run client `idx` until stopped, disconnected or past the deadline.
pub async fn run(
    idx: usize,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) -> ClientReport {
    let me = &shared.plan.clients[idx];
    let mut report = ClientReport {
        node: me.node,
        ..ClientReport::default()
    };
    let conn = match setup(idx, &shared, &mut report.numerics).await {
        Ok(conn) => conn,
        Err(err) => {
            report.setup_failure = Some(err.reason());
            let _ = events.send(Event::SetupFailed(idx));
            return report;
        }
    };
    let _ = events.send(Event::Joined(idx));
    let mut session = Session {
        idx,
        shared: &shared,
        receipts: Receipts::new(shared.plan.heard_by(idx), shared.plan.messages_per_sender),
        report,
        marker_seen: vec![false; me.channels.len()],
        expect_on: None,
        markers_reported: false,
        sending: None,
        fresh: 0,
    };
    session.run(conn, &mut commands, &events).await;
    session.report.sent_per_channel = session.sent_counts();
    session.report
}

async fn setup(
    idx: usize,
    shared: &Shared,
    numerics: &mut NumericCounts,
) -> Result<Conn, ConnError> {
    let me = &shared.plan.clients[idx];
    let _slot = timeout_at(shared.deadline, shared.setup_slots.acquire())
        .await
        .map_err(|_| ConnError::Timeout)?
        .map_err(|_| ConnError::Timeout)?;
    let mut conn = Conn::connect(shared.plan.nodes[me.node], shared.deadline).await?;
    conn.register(&me.nick, shared.deadline, numerics).await?;
    let names: Vec<&str> = me
        .channels
        .iter()
        .map(|c| shared.plan.channels[*c].as_str())
        .collect();
    conn.join(&names, shared.deadline, numerics).await?;
    Ok(conn)
}

/// A sender's progress after the start signal.
struct Sending {
    go: Instant,
    next_seq: u32,
    per_channel: Vec<u64>,
}

struct Session<'a> {
    idx: usize,
    shared: &'a Shared,
    receipts: Receipts,
    report: ClientReport,
    marker_seen: Vec<bool>,
    expect_on: Option<Vec<usize>>,
    markers_reported: bool,
    sending: Option<Sending>,
    fresh: u64,
}

impl Session<'_> {
    async fn run(
        &mut self,
        mut conn: Conn,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        events: &mpsc::UnboundedSender<Event>,
    ) {
        let shared = self.shared;
        let plan = &shared.plan;
        let me = &plan.clients[self.idx];
        let wake = sleep_until(self.shared.deadline);
        tokio::pin!(wake);
        let ended = loop {
            if let Err(reason) = self.consume(&mut conn) {
                break Some(reason);
            }
            if !self.markers_reported && self.markers_complete() {
                self.markers_reported = true;
                let _ = events.send(Event::MarkersSeen(self.idx));
            }
            if let Err(err) = conn.flush().await {
                break Some(err.reason());
            }
            let due = self.next_due();
            if let Some(due) = due {
                wake.as_mut().reset(due);
            }
            tokio::select! {
                filled = conn.fill() => {
                    if let Err(err) = filled {
                        break Some(err.reason());
                    }
                }
                command = commands.recv() => match command {
                    None | Some(Command::Stop) => break None,
                    Some(Command::Marker { round, send_on, expect_on }) => {
                        for channel in send_on {
                            payload::write_marker(&mut conn.out, &plan.channels[channel], round);
                        }
                        self.expect_on = Some(expect_on);
                    }
                    Some(Command::Go(go)) => {
                        if me.sends {
                            self.sending = Some(Sending {
                                go,
                                next_seq: 0,
                                per_channel: vec![0; me.channels.len()],
                            });
                        }
                    }
                },
                _ = &mut wake, if due.is_some() => {
                    if self.write_due(&mut conn.out) {
                        let _ = events.send(Event::SendDone(self.idx, self.sent_counts()));
                    }
                }
            }
        };
        match ended {
            Some(reason) => {
                self.report.disconnect = Some(reason);
                let _ = events.send(Event::Disconnected(self.idx, self.sent_counts()));
            }
            None => conn.quit().await,
        }
    }

    /// Handle every complete buffered line; `Err` with a reason when the server closed the link.
    fn consume(&mut self, conn: &mut Conn) -> Result<(), String> {
        let mut now_ns = None;
        while let Some(raw) = conn.lines.next_line() {
            let Ok(msg) = line::parse(raw) else {
                continue;
            };
            match react(&msg, &mut conn.out, &mut self.report.numerics) {
                Reaction::Handled => continue,
                Reaction::Closed(reason) => return Err(format!("ERROR: {reason}")),
                Reaction::Other => {}
            }
            if msg.command != b"PRIVMSG" {
                continue;
            }
            match msg.param(1).and_then(payload::parse) {
                Some(Payload::Data(stamp)) => {
                    let now = *now_ns.get_or_insert_with(|| self.elapsed_ns());
                    self.record(stamp, now);
                }
                Some(Payload::Marker(_)) => {
                    let target = msg.param(0).unwrap_or_default();
                    let channels = &self.shared.plan.clients[self.idx].channels;
                    if let Some(pos) = channels
                        .iter()
                        .position(|c| irc_eq(self.shared.plan.channels[*c].as_bytes(), target))
                    {
                        self.marker_seen[pos] = true;
                    }
                }
                None => {}
            }
        }
        if self.fresh > 0 {
            self.shared
                .received
                .fetch_add(self.fresh, Ordering::Relaxed);
            self.fresh = 0;
        }
        Ok(())
    }

    fn record(&mut self, stamp: Stamp, now_ns: u64) {
        match self.receipts.record(stamp.sender, stamp.seq) {
            Receipt::New => {
                self.report.unique += 1;
                self.fresh += 1;
                self.report
                    .latencies
                    .push(now_ns.saturating_sub(stamp.sent_ns));
                self.report.last_delivery_ns = Some(now_ns);
            }
            Receipt::Duplicate => self.report.duplicates += 1,
            Receipt::Unexpected => self.report.unexpected += 1,
        }
    }

    fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn markers_complete(&self) -> bool {
        let Some(expect_on) = &self.expect_on else {
            return false;
        };
        let channels = &self.shared.plan.clients[self.idx].channels;
        expect_on.iter().all(|channel| {
            channels
                .iter()
                .position(|c| c == channel)
                .is_none_or(|pos| self.marker_seen[pos])
        })
    }

    /// When the next message is due, if this client is sending and has messages left.
    fn next_due(&self) -> Option<Instant> {
        let sending = self.sending.as_ref()?;
        let plan = &self.shared.plan;
        if sending.next_seq >= plan.messages_per_sender {
            return None;
        }
        Some(match plan.pacing {
            Pacing::Burst => sending.go,
            Pacing::PerSecond(rate) => {
                sending.go
                    + plan.clients[self.idx].phase
                    + Duration::from_secs_f64(f64::from(sending.next_seq) / rate)
            }
        })
    }

    /// Queue every message due now (at most [`SEND_BATCH`]); true when the last one was queued.
    fn write_due(&mut self, out: &mut Vec<u8>) -> bool {
        let now = Instant::now();
        let mut written = 0;
        while written < SEND_BATCH {
            match self.next_due() {
                Some(due) if due <= now => {}
                _ => break,
            }
            let Some(sending) = self.sending.as_mut() else {
                break;
            };
            let plan = &self.shared.plan;
            let seq = sending.next_seq;
            let channel = plan.target_of(self.idx, seq);
            let stamp = Stamp {
                sender: self.idx as u32,
                seq,
                sent_ns: u64::try_from(self.shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX),
            };
            payload::write_data(out, &plan.channels[channel], stamp, plan.pad);
            let pos = seq as usize % sending.per_channel.len();
            sending.per_channel[pos] += 1;
            sending.next_seq += 1;
            written += 1;
        }
        written > 0 && self.next_due().is_none()
    }

    fn sent_counts(&self) -> Vec<u64> {
        match &self.sending {
            Some(sending) => sending.per_channel.clone(),
            None => vec![0; self.shared.plan.clients[self.idx].channels.len()],
        }
    }
}
