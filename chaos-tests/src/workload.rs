//! The seeded workload: real IRC clients on every node joining, parting, renaming (sometimes onto
//! a nick another node's client holds, to force collisions across a split), setting topics, modes
//! and bans, kicking and chatting. Every message text is unique; a message counts as acknowledged
//! when the sender got its echo (echo-message), and only then is it recorded for the no-loss check.
//! The workload also probes liveness: every node that is neither killed nor paused must answer PING.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::RngExt;

use crate::cluster::Cluster;
use crate::irc::{fold, Client};

/// Channels the workload uses on tenant alpha.
pub const CHANNELS: [&str; 3] = ["#chaos0", "#chaos1", "#chaos2"];
/// The channel tenant beta's clients use.
pub const BETA_CHANNEL: &str = "#betaonly";
/// How long a sender waits for its echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a node has to answer a liveness PING.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Time between liveness probes.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// A message the cluster acknowledged (the sender saw its echo).
#[derive(Clone, Debug)]
pub struct Acked {
    /// Channel it was sent to (as sent).
    pub channel: String,
    /// Its unique text.
    pub text: String,
    /// Node the sender was connected to.
    pub node: u16,
}

/// A liveness probe that failed on a node that should have been serving.
#[derive(Clone, Debug)]
pub struct Miss {
    /// The node.
    pub node: u16,
    /// Seconds since the workload started.
    pub at_secs: f64,
    /// What happened.
    pub what: String,
}

/// One workload client: its home node and its connection (absent while the node is down).
struct Actor {
    node: u16,
    base: String,
    generation: u32,
    client: Option<Client>,
}

/// The workload's state and results.
pub struct Workload {
    rng: StdRng,
    seed: u64,
    actors: Vec<Actor>,
    /// One client per node that joins every channel and never leaves, so channels (and their
    /// history) survive members parting; also the liveness prober.
    anchors: Vec<Option<Client>>,
    /// Tenant beta's clients, one per node.
    beta: Vec<Option<Client>>,
    /// Acknowledged messages.
    pub acked: Vec<Acked>,
    /// Messages sent without an echo within the timeout.
    pub unacked: usize,
    /// Workload steps taken.
    pub steps: usize,
    /// Nick changes aimed at another node's client's nick.
    pub collisions_tried: usize,
    /// Liveness probe failures.
    pub misses: Vec<Miss>,
    /// Liveness probes answered.
    pub probes_ok: usize,
    /// QUITs seen by anchors that were replaced (their node was killed or paused).
    old_quits: Vec<String>,
    next_msg: u64,
}

fn connect(
    cluster: &Cluster,
    node: u16,
    tenant: usize,
    label: &str,
    nick: &str,
    user: &str,
) -> Option<Client> {
    let spec = &cluster.nodes[usize::from(node - 1)].spec;
    Client::connect(
        spec.irc[tenant],
        label,
        nick,
        user,
        label,
        Duration::from_secs(5),
    )
    .ok()
}

impl Workload {
    /// Connects `per_node` workload clients, an anchor and a beta client on every node.
    pub fn start(cluster: &Cluster, rng: StdRng, seed: u64, per_node: usize) -> Workload {
        let mut w = Workload {
            rng,
            seed,
            actors: Vec::new(),
            anchors: Vec::new(),
            beta: Vec::new(),
            acked: Vec::new(),
            unacked: 0,
            steps: 0,
            collisions_tried: 0,
            misses: Vec::new(),
            probes_ok: 0,
            old_quits: Vec::new(),
            next_msg: 0,
        };
        for node in cluster.nodes.iter().map(|n| n.spec.id) {
            let mut anchor = connect(
                cluster,
                node,
                0,
                &format!("n{node}/alpha/anchor"),
                &format!("anchor{node}"),
                "anchor",
            );
            if let Some(a) = anchor.as_mut() {
                let _ = a.send(&format!("JOIN {}", CHANNELS.join(",")));
            }
            w.anchors.push(anchor);
            let mut beta = connect(
                cluster,
                node,
                1,
                &format!("n{node}/beta/b{node}"),
                &format!("beta{node}"),
                "beta",
            );
            if let Some(b) = beta.as_mut() {
                let _ = b.send(&format!("JOIN {BETA_CHANNEL}"));
                let _ = b.send(&format!("TOPIC {BETA_CHANNEL} :beta topic {node}"));
            }
            w.beta.push(beta);
            if let (Some(first), true) = (w.anchors[0].as_mut(), node > 1) {
                for chan in CHANNELS {
                    let _ = first.send(&format!("MODE {chan} +o anchor{node}"));
                }
            }
            for i in 0..per_node {
                let base = format!("k{node}x{i}");
                let client = connect(
                    cluster,
                    node,
                    0,
                    &format!("n{node}/alpha/{base}"),
                    &base,
                    &format!("{base}g0"),
                );
                w.actors.push(Actor {
                    node,
                    base,
                    generation: 0,
                    client,
                });
            }
        }
        w
    }

    /// Runs the workload for `duration`, calling `tick` with the elapsed time before every step so
    /// the fault schedule can act. The step count is bounded by 50 a second.
    pub fn run(
        &mut self,
        cluster: &mut Cluster,
        duration: Duration,
        mut tick: impl FnMut(&mut Cluster, Duration),
    ) {
        let start = Instant::now();
        let max_steps = (duration.as_secs_f64() * 50.0) as usize + 1;
        let mut last_probe = start;
        while start.elapsed() < duration && self.steps < max_steps {
            tick(cluster, start.elapsed());
            if last_probe.elapsed() >= PROBE_EVERY {
                self.probe(cluster, start);
                last_probe = Instant::now();
            }
            self.step(cluster);
            if self.steps.is_multiple_of(8) {
                self.drain_all();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// PINGs every serving node through its anchor (reconnecting anchors of restarted nodes).
    fn probe(&mut self, cluster: &Cluster, start: Instant) {
        for (i, node) in cluster.nodes.iter().enumerate() {
            let id = node.spec.id;
            if !node.is_up() {
                self.retire_anchor(i);
                continue;
            }
            if node.paused {
                continue;
            }
            let at_secs = start.elapsed().as_secs_f64();
            if self.anchors[i].as_ref().is_none_or(|a| a.closed) {
                self.retire_anchor(i);
                let mut fresh = connect(
                    cluster,
                    id,
                    0,
                    &format!("n{id}/alpha/anchor"),
                    &format!("anchor{id}"),
                    "anchor",
                );
                match fresh.as_mut() {
                    Some(a) => {
                        let _ = a.send(&format!("JOIN {}", CHANNELS.join(",")));
                    }
                    None => self.misses.push(Miss {
                        node: id,
                        at_secs,
                        what: "could not register a client".into(),
                    }),
                }
                self.anchors[i] = fresh;
                continue;
            }
            let token = format!("live{}", self.steps);
            if let Some(a) = self.anchors[i].as_mut() {
                match a.ping(&token, PING_TIMEOUT) {
                    Ok(true) => self.probes_ok += 1,
                    Ok(false) => self.misses.push(Miss {
                        node: id,
                        at_secs,
                        what: format!("no PONG within {PING_TIMEOUT:?}"),
                    }),
                    Err(e) => self.misses.push(Miss {
                        node: id,
                        at_secs,
                        what: format!("connection failed: {e}"),
                    }),
                }
            }
        }
    }

    fn retire_anchor(&mut self, i: usize) {
        if let Some(a) = self.anchors[i].take() {
            let label = a.label;
            self.old_quits
                .extend(a.quits_seen.into_iter().map(|q| format!("{label} saw {q}")));
        }
    }

    /// Every QUIT the anchors saw ("n1/alpha/anchor saw k2x0: reason"). Workload clients never
    /// quit, so each one comes from a fault; the design wants none for splits shorter than the
    /// grace period ("heal quietly").
    pub fn quits_seen(&self) -> Vec<String> {
        let current = self.anchors.iter().flatten().flat_map(|a| {
            a.quits_seen
                .iter()
                .map(move |q| format!("{} saw {q}", a.label))
        });
        self.old_quits.iter().cloned().chain(current).collect()
    }

    fn drain_all(&mut self) {
        let clients = self
            .actors
            .iter_mut()
            .filter_map(|a| a.client.as_mut())
            .chain(self.anchors.iter_mut().flatten())
            .chain(self.beta.iter_mut().flatten());
        for c in clients {
            if !c.closed {
                let _ = c.drain(Duration::from_millis(1));
            }
        }
    }

    /// Drains every client for a while: lets the server's renames and kicks reach them.
    pub fn settle(&mut self, budget: Duration) {
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            self.drain_all();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connected workload clients: (node, label, the nick its connection believes it has).
    pub fn believed_nicks(&self) -> Vec<(u16, String, String)> {
        self.actors
            .iter()
            .filter_map(|a| {
                a.client
                    .as_ref()
                    .filter(|c| !c.closed)
                    .map(|c| (a.node, c.label.clone(), c.nick.clone()))
            })
            .collect()
    }

    /// One random action by one random client whose node is serving.
    fn step(&mut self, cluster: &Cluster) {
        self.steps += 1;
        let i = self.rng.random_range(0..self.actors.len());
        let node = self.actors[i].node;
        let host = &cluster.nodes[usize::from(node - 1)];
        if !host.is_up() {
            self.actors[i].client = None;
        }
        if !host.serving() {
            return;
        }
        if self.actors[i].client.as_ref().is_none_or(|c| c.closed) {
            let a = &mut self.actors[i];
            a.generation += 1;
            let user = format!("{}g{}", a.base, a.generation);
            a.client = connect(
                cluster,
                node,
                0,
                &format!("n{node}/alpha/{}", a.base),
                &a.base,
                &user,
            );
            return;
        }
        let roll = self.rng.random_range(0..100u32);
        let chan = CHANNELS[self.rng.random_range(0..CHANNELS.len())];
        let other = self.other_nick(i);
        let mut collision = false;
        let line = match roll {
            0..=34 => {
                let joined = self.actors[i]
                    .client
                    .as_ref()
                    .map(|c| c.channels.clone())
                    .unwrap_or_default();
                match CHANNELS
                    .iter()
                    .find(|c| joined.contains(&fold(c)) && fold(c) == fold(chan))
                    .or_else(|| CHANNELS.iter().find(|c| joined.contains(&fold(c))))
                {
                    Some(c) => {
                        self.message(i, c);
                        return;
                    }
                    None => format!("JOIN {chan}"),
                }
            }
            35..=46 => format!("JOIN {chan}"),
            47..=52 => format!("PART {chan} :bye"),
            53..=61 => match other.filter(|_| self.rng.random_bool(0.8)) {
                Some((nick, other_node)) if other_node != node => {
                    collision = true;
                    format!("NICK {nick}")
                }
                _ => format!(
                    "NICK {}n{}",
                    self.actors[i].base,
                    self.rng.random_range(0..1000u32)
                ),
            },
            62..=68 => format!("TOPIC {chan} :topic s{} #{}", self.seed, self.steps),
            69..=75 => {
                let flag = ['t', 'n', 'm'][self.rng.random_range(0..3usize)];
                let sign = if self.rng.random_bool(0.5) { '+' } else { '-' };
                format!("MODE {chan} {sign}{flag}")
            }
            76..=81 => match other {
                Some((nick, _)) => {
                    let sign = if self.rng.random_bool(0.6) { '+' } else { '-' };
                    format!("MODE {chan} {sign}b {nick}!*@*")
                }
                None => format!("MODE {chan} +b nobody!*@*"),
            },
            82..=86 => match other {
                Some((nick, _)) => format!("KICK {chan} {nick} :chaos"),
                None => format!("JOIN {chan}"),
            },
            _ => {
                self.op_by_anchor(i, chan);
                return;
            }
        };
        if collision {
            self.collisions_tried += 1;
        }
        if let Some(c) = self.actors[i].client.as_mut() {
            let _ = c.send(&line);
            let _ = c.drain(Duration::from_millis(2));
        }
    }

    /// The anchor of the client's node (a channel operator) gives or takes the client's +o, so
    /// workload clients get to set topics, modes and bans and to kick.
    fn op_by_anchor(&mut self, i: usize, chan: &str) {
        let Some(nick) = self.actors[i].client.as_ref().map(|c| c.nick.clone()) else {
            return;
        };
        let sign = if self.rng.random_bool(0.8) { '+' } else { '-' };
        let node = usize::from(self.actors[i].node - 1);
        if let Some(a) = self.anchors[node].as_mut() {
            let _ = a.send(&format!("MODE {chan} {sign}o {nick}"));
        }
    }

    /// A random other workload client's current nick and node.
    fn other_nick(&mut self, me: usize) -> Option<(String, u16)> {
        let j = self.rng.random_range(0..self.actors.len());
        if j == me {
            return None;
        }
        let a = &self.actors[j];
        a.client.as_ref().map(|c| (c.nick.clone(), a.node))
    }

    /// Sends one uniquely numbered message and records it if its echo comes back.
    fn message(&mut self, i: usize, chan: &str) {
        self.next_msg += 1;
        let text = format!(
            "chaos s{} m{} from {}",
            self.seed, self.next_msg, self.actors[i].base
        );
        let node = self.actors[i].node;
        let Some(c) = self.actors[i].client.as_mut() else {
            return;
        };
        if c.send(&format!("PRIVMSG {chan} :{text}")).is_err() {
            return;
        }
        let deadline = Instant::now() + ECHO_TIMEOUT;
        let fchan = fold(chan);
        let got = c.wait_for(deadline, |m| {
            (m.command == "PRIVMSG" && fold(m.param(0)) == fchan && m.last() == text)
                || (matches!(m.command.as_str(), "401" | "403" | "404" | "442" | "489")
                    && fold(m.param(1)) == fchan)
        });
        match got {
            Ok(Some(m)) if m.command == "PRIVMSG" => self.acked.push(Acked {
                channel: chan.to_owned(),
                text,
                node,
            }),
            Ok(Some(_)) => {}
            _ => self.unacked += 1,
        }
    }

    /// Nick changes of workload clients to a nick the workload never asks for (all of those
    /// start with `k`): renames imposed by the server's collision rule.
    pub fn forced_renames(&self) -> Vec<String> {
        self.actors
            .iter()
            .filter_map(|a| a.client.as_ref())
            .flat_map(|c| {
                c.nick_changes
                    .iter()
                    .filter(|n| !n.starts_with(['k', 'K']))
                    .map(move |n| format!("{} -> {n}", c.label))
            })
            .collect()
    }

    /// Tenant beta's nicks as its clients believe them.
    pub fn beta_nicks(&self) -> Vec<String> {
        self.beta.iter().flatten().map(|c| c.nick.clone()).collect()
    }
}
