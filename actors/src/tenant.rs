//! A tenant network's runtime on this node: its replicated state and the op path.
//!
//! Every state change goes through [`Core::commit`]: a stamped op is created, applied through the
//! CRDT, handed to the [`OpSink`] (the event log and the cluster, as later issues connect them) and
//! rendered to local clients. The same apply-and-render path serves ops that arrive from other nodes,
//! so a single node is just a cluster of one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use latticed_config::TenantConfig;
use latticed_crdt::{
    Change, LamportClock, MsgId, NodeId, Op, OpBody, OpId, Stamp, TenantId, TenantState, Uid,
    UserView,
};
use latticed_proto::CaseMapping;
use parking_lot::{Mutex, MutexGuard, RwLock};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::caps::Caps;
use crate::deadlines::Deadlines;
use crate::metrics::TenantMetrics;
use crate::outbound::Outbound;
use crate::time::unix_now_ms;
use crate::whowas::{Whowas, WhowasEntry};

/// Where committed ops go after they are applied locally. Later issues add the event log and the
/// replication link behind this trait; the node's own metrics count them today.
pub trait OpSink: Send + Sync {
    /// Called once for every op this node creates, after it has been applied. `seen` is the
    /// version vector this node had applied when it created the op: the op's causal past, which
    /// peers use to deliver ops of different origins in an order that respects it.
    fn record(&self, op: &Op, seen: &BTreeMap<NodeId, u64>);

    /// Start making a new Lamport clock ceiling durable, so that a restarted node never reuses a
    /// stamp. The clock asks for ceilings ahead of need, so this should not wait for the disk:
    /// [`OpSink::await_clock_ceiling`] is where a commit waits, if it must.
    fn persist_clock_ceiling(&self, ceiling: u64);

    /// Return once a ceiling at or above `counter` is durable; called before a stamp with that
    /// counter is used. Sinks whose [`OpSink::persist_clock_ceiling`] returns only once the
    /// ceiling is durable (or that keep nothing) have nothing to wait for.
    fn await_clock_ceiling(&self, _counter: u64) {}
}

/// Reloads the node's configuration for `REHASH`.
pub trait Rehasher: Send + Sync {
    /// Re-read the configuration file and apply what can change at run time.
    fn rehash(&self) -> Result<(), String>;
}

/// Static facts about this node that clients see.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// This node's id in the cluster.
    pub id: NodeId,
    /// Server name shown to this tenant's clients.
    pub server_name: String,
    /// One-line description (WHOIS 312, LINKS).
    pub description: String,
    /// Software version string (004, 351).
    pub version: String,
    /// When this node started, human readable (003).
    pub started: String,
    /// Server names of the other nodes of the cluster, by node id (WHOIS 312, LUSERS).
    pub peers: BTreeMap<NodeId, String>,
    /// This process's incarnation of the node (the event log's epoch, one more at every start).
    pub epoch: u64,
}

impl NodeInfo {
    /// The origin of the ops this incarnation creates. Op sequence numbers and user ids are
    /// scoped to an incarnation, so a node that crashed after shipping ops it had not yet
    /// flushed never reissues their ids for different ops after it restarts (peers hold the
    /// originals; reusing an id would make the two diverge for good).
    pub fn origin(&self) -> NodeId {
        NodeId(self.id.0 + INCARNATION_STRIDE * self.epoch as u32)
    }
}

/// Node ids are below 1000, so `node + 1000 * epoch` names an incarnation uniquely.
const INCARNATION_STRIDE: u32 = 1000;

/// The node and incarnation an op origin names: the inverse of [`NodeInfo::origin`].
pub fn incarnation_of(origin: NodeId) -> (NodeId, u64) {
    (
        NodeId(origin.0 % INCARNATION_STRIDE),
        u64::from(origin.0 / INCARNATION_STRIDE),
    )
}

impl NodeInfo {
    /// The server name of node `id` as clients see it: this node's own name, a configured peer's
    /// name, or a placeholder for a node this one has not been told about.
    pub fn server_of(&self, id: NodeId) -> String {
        if id == self.id {
            return self.server_name.clone();
        }
        self.peers
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("node{}.{}", id.0, self.server_name))
    }
}

/// Privileges an `OPER` grants, from the oper block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperPrivs {
    /// Oper block name.
    pub name: String,
    /// May KILL.
    pub kill: bool,
    /// May REHASH.
    pub rehash: bool,
    /// May send WALLOPS.
    pub wallops: bool,
    /// Sees invisible users in WHO and secret channels in LIST/WHOIS.
    pub see_hidden: bool,
}

/// A user connected to this node.
pub struct LocalUser {
    /// The connection's send queue.
    pub out: Outbound,
    /// Capabilities enabled on the connection.
    pub caps: Caps,
    /// Set once `OPER` succeeded (boxed: every local user has the field, few are opers).
    pub oper: Option<Box<OperPrivs>>,
    /// Unix seconds of registration (WHOIS 317).
    pub signon: u64,
    /// Last time the user sent a message (WHOIS idle).
    pub last_active: Instant,
    /// Whether the connection is TLS (WHOIS 671).
    pub tls: bool,
}

impl LocalUser {
    /// Queue `line` on the user's connection, counting a send queue overflow in `metrics`.
    pub fn queue(&self, line: bytes::Bytes, metrics: &TenantMetrics) {
        if self.out.send(line) == crate::outbound::Sent::Overflowed {
            metrics.sendq_drops.inc();
        }
    }
}

/// Replies gathered while handling one command, so that labeled-response can wrap them.
pub struct Outbox {
    /// The user whose command is being handled, if registered: lines for them land here.
    pub issuer: Option<Uid>,
    /// Lines for the issuer, in order.
    pub lines: Vec<bytes::Bytes>,
}

impl Outbox {
    /// An outbox for a command from `issuer`.
    pub fn new(issuer: Option<Uid>) -> Outbox {
        Outbox {
            issuer,
            lines: Vec::new(),
        }
    }
}

/// The mutable part of a tenant runtime, behind one lock: state, clock and local routing.
pub struct Core {
    /// The replicated state.
    pub state: TenantState,
    clock: LamportClock,
    node: NodeId,
    /// Op origin of this incarnation (see [`NodeInfo::origin`]).
    origin: NodeId,
    /// First user counter of this incarnation: user ids are scoped to it like op ids.
    uid_floor: u64,
    next_seq: u64,
    next_uid: u64,
    /// The highest message id applied, this node's or a peer's: ids minted here sort after it
    /// ([`Core::mint_msgid`]).
    msgid_seen: MsgId,
    /// Users connected to this node, looked up once per recipient of every line (uids are
    /// minted by nodes, so a fast non-keyed hash is safe).
    pub local: FxHashMap<Uid, LocalUser>,
    /// Connections that have not completed registration yet.
    pub unregistered: usize,
    /// Most local users seen at once (LUSERS 265).
    pub max_local: usize,
    /// Most users seen at once network-wide (LUSERS 266).
    pub max_global: usize,
    /// Recently gone nicks.
    pub whowas: Whowas,
    /// Folded nick to local users monitoring it.
    pub monitors: HashMap<String, HashSet<Uid>>,
    /// The nicks each local user MONITORs, as given (display form); only users with a list
    /// have an entry (not a field of [`LocalUser`]: every local user has one of those).
    pub monitor_lists: FxHashMap<Uid, BTreeSet<String>>,
    /// Pending invitations: (folded channel, invitee).
    pub invites: HashSet<(String, Uid)>,
    sink: Arc<dyn OpSink>,
    metrics: TenantMetrics,
    /// Server name used as the source of server-generated lines.
    pub server_name: String,
    /// Highest contiguous op sequence applied per origin (this node's own included).
    applied: BTreeMap<NodeId, u64>,
    /// Users of peers unreachable past the grace period, hidden from local clients.
    pub(crate) hidden: crate::split::HiddenUsers,
}

/// What a snapshot of a tenant holds besides the version vector the event log stores with it:
/// the replicated state and the local facts a restart cannot get back from the state alone.
/// Made by [`Core::snapshot`], consumed by [`Core::restore_snapshot`]; opaque in between.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoreSnapshot {
    state: TenantState,
    /// Lamport counter: the state holds foreign stamps above this node's persisted clock
    /// ceiling, and later local stamps must stay above them (the receive rule).
    clock: u64,
    /// Highest user counter handed out, so no uid is reused, not even one of a departed user.
    next_uid: u64,
    /// WHOWAS entries, oldest first: the departures behind them are not replayed after a restore.
    whowas: Vec<(String, WhowasEntry)>,
}

/// Why a snapshot cannot become a tenant's starting point; the caller replays the log instead.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RestoreError {
    /// The snapshot belongs to another tenant network.
    #[error("snapshot of tenant {found} offered to tenant {expected}")]
    WrongTenant {
        /// The tenant being restored.
        expected: TenantId,
        /// The tenant the snapshot was taken of.
        found: TenantId,
    },
    /// The configured casemapping changed since the snapshot: its folded names would be wrong.
    #[error("snapshot of tenant {tenant} folds names with {found}, the tenant is configured with {configured}")]
    CaseMapping {
        /// The tenant.
        tenant: TenantId,
        /// Casemapping of the configuration.
        configured: &'static str,
        /// Casemapping of the snapshot.
        found: &'static str,
    },
    /// Ops were applied already; a snapshot can only replace an empty state.
    #[error("tenant {tenant} already applied ops; a snapshot only starts an empty state")]
    NotFresh {
        /// The tenant.
        tenant: TenantId,
    },
}

/// What happened to an op that did not originate in this process.
#[derive(Debug, PartialEq, Eq)]
pub enum Foreign {
    /// Applied; these changes became visible.
    Applied(Vec<Change>),
    /// Already applied earlier: nothing to do (delivery is at-least-once).
    Duplicate,
    /// An earlier op of the same origin is missing; the op was not applied and the sender must
    /// resend from `expected` on.
    Gap {
        /// The sequence number this node needs next from that origin.
        expected: u64,
    },
}

impl Core {
    /// The tenant's casemapping.
    pub fn casemapping(&self) -> CaseMapping {
        self.state.casemapping()
    }

    /// A fresh network-unique user id.
    pub fn allocate_uid(&mut self) -> Uid {
        self.next_uid += 1;
        Uid {
            node: self.node,
            n: self.next_uid,
        }
    }

    /// Create, apply and record an op, returning what became visibly different. Callers that render
    /// the changes themselves (MODE groups several into one line) use this; others use [`Core::commit`].
    /// The op's wall time is now, except for a message, whose time is the one its msgid (a UUIDv7
    /// minted by the sender's handler) carries. That time never goes back within a process: after
    /// the system clock is stepped back, messages keep the last time until the clock catches up,
    /// so history order stays creation order (other ops follow the clock back).
    pub fn commit_quiet(&mut self, body: OpBody) -> (Op, Vec<Change>) {
        let stamp = self.clock.tick();
        self.persist_clock_ceiling();
        self.sink.await_clock_ceiling(stamp.counter);
        self.next_seq += 1;
        // A message's time is the one its msgid carries (minted just before), so the event
        // log finds its place in history from the msgid alone.
        let wall_ms = match &body {
            OpBody::Message { msgid, .. } => msgid.time_ms(),
            _ => unix_now_ms(),
        };
        let op = Op {
            tenant: self.state.tenant().clone(),
            id: OpId {
                origin: self.origin,
                seq: self.next_seq,
            },
            stamp,
            wall_ms,
            body,
        };
        self.remember_departing_identity(&op);
        self.see_msgid(&op);
        self.applied.insert(self.origin, self.next_seq);
        let changes = match self.state.apply(&op) {
            Ok(changes) => changes,
            Err(err) => {
                tracing::error!(%err, "own op rejected by tenant state");
                Vec::new()
            }
        };
        self.sink.record(&op, &self.applied);
        self.reset_emptied_channels(&changes);
        self.refresh_gauges();
        (op, changes)
    }

    /// A channel whose last member left ends its incarnation: its topic, modes and lists are
    /// cleared by a `ChannelReset` op, so the next JOIN starts a fresh channel as on any ircd.
    fn reset_emptied_channels(&mut self, changes: &[Change]) {
        let mut emptied: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::Left { channel, .. } => emptied.push(channel.clone()),
                Change::UserDeparted { channels, .. } => emptied.extend(channels.iter().cloned()),
                _ => {}
            }
        }
        for channel in emptied {
            if self.state.channel(&channel).is_some() {
                continue;
            }
            let observed = self.state.channel_reset_dots(&channel);
            self.commit_quiet(OpBody::ChannelReset {
                channel: channel.clone(),
                observed,
            });
            let folded = self.state.casemapping().fold(&channel);
            self.invites.retain(|(c, _)| *c != folded);
        }
    }

    /// Create, apply, record and render an op to every local client it concerns.
    pub fn commit(&mut self, body: OpBody, outbox: &mut Outbox) -> Vec<Change> {
        let (op, changes) = self.commit_quiet(body);
        crate::render::render(self, &op, &changes, outbox);
        changes
    }

    /// Apply an op created elsewhere: by a peer, or by this node before a restart (from its log).
    /// Ops of one origin are applied in sequence order exactly once; the clock moves past the
    /// op's stamp. With `render`, local clients see what changed, exactly as for a local op.
    pub fn apply_foreign(&mut self, op: &Op, render: bool) -> Foreign {
        let have = self.applied.get(&op.id.origin).copied().unwrap_or(0);
        if op.id.seq <= have {
            return Foreign::Duplicate;
        }
        if op.id.seq != have + 1 {
            return Foreign::Gap { expected: have + 1 };
        }
        self.observe_stamp(op.stamp);
        self.remember_departing_identity(op);
        self.see_msgid(op);
        self.applied.insert(op.id.origin, op.id.seq);
        if op.id.origin == self.origin {
            self.next_seq = self.next_seq.max(op.id.seq);
        }
        if let OpBody::UserArrive { uid, .. } = &op.body {
            if uid.node == self.node {
                self.next_uid = self.next_uid.max(uid.n);
            }
        }
        let changes = match self.state.apply(op) {
            Ok(changes) => changes,
            Err(err) => {
                tracing::warn!(%err, "foreign op rejected by tenant state");
                return Foreign::Applied(Vec::new());
            }
        };
        if render {
            let mut outbox = Outbox::new(None);
            crate::render::render(self, op, &changes, &mut outbox);
        }
        self.refresh_gauges();
        Foreign::Applied(changes)
    }

    /// Account for a message op whose body retention pruned: nothing to apply (messages do not
    /// change state), but its sequence number is taken so later ops of its origin follow it.
    pub fn apply_pruned(&mut self, id: OpId, stamp: latticed_crdt::Stamp) -> Foreign {
        let have = self.applied.get(&id.origin).copied().unwrap_or(0);
        if id.seq <= have {
            return Foreign::Duplicate;
        }
        if id.seq != have + 1 {
            return Foreign::Gap { expected: have + 1 };
        }
        self.observe_stamp(stamp);
        self.applied.insert(id.origin, id.seq);
        if id.origin == self.origin {
            self.next_seq = self.next_seq.max(id.seq);
        }
        Foreign::Applied(Vec::new())
    }

    /// End the sessions of this node's users from earlier incarnations: their connections died
    /// with the process that had them. Run after restoring from the log and whenever peers hand
    /// back such a user (one this node shipped but had not flushed before it crashed).
    pub fn end_previous_incarnations(&mut self) -> usize {
        let stale: Vec<Uid> = self
            .state
            .uids()
            .filter(|uid| uid.node == self.node && uid.n < self.uid_floor)
            .collect();
        for uid in &stale {
            let mut outbox = Outbox::new(None);
            self.commit(
                OpBody::UserDepart {
                    uid: *uid,
                    reason: "Server restarted".to_owned(),
                },
                &mut outbox,
            );
        }
        stale.len()
    }

    /// Highest contiguous sequence applied per origin: what this node would tell a peer it holds.
    pub fn version_vector(&self) -> &BTreeMap<NodeId, u64> {
        &self.applied
    }

    /// A copy of everything a restart needs besides the log, and the version vector of exactly the
    /// ops it includes. Only clones: the caller holds the tenant lock for this call alone and
    /// encodes and writes the copy elsewhere.
    pub fn snapshot(&self) -> (CoreSnapshot, BTreeMap<NodeId, u64>) {
        let snapshot = CoreSnapshot {
            state: self.state.clone(),
            clock: self.clock.current(),
            next_uid: self.next_uid,
            whowas: self.whowas.entries().cloned().collect(),
        };
        (snapshot, self.applied.clone())
    }

    /// Start from a snapshot instead of an empty state: `applied` is the version vector stored
    /// with it. Afterwards only the ops beyond `applied` need applying, through
    /// [`Core::apply_foreign`]. Refused unless this core has applied nothing yet and the snapshot
    /// is of this tenant with its configured casemapping.
    pub fn restore_snapshot(
        &mut self,
        snapshot: CoreSnapshot,
        applied: BTreeMap<NodeId, u64>,
    ) -> Result<(), RestoreError> {
        let tenant = self.state.tenant();
        if !self.applied.is_empty() {
            return Err(RestoreError::NotFresh {
                tenant: tenant.clone(),
            });
        }
        if snapshot.state.tenant() != tenant {
            return Err(RestoreError::WrongTenant {
                expected: tenant.clone(),
                found: snapshot.state.tenant().clone(),
            });
        }
        if snapshot.state.casemapping() != self.state.casemapping() {
            return Err(RestoreError::CaseMapping {
                tenant: tenant.clone(),
                configured: self.state.casemapping().name(),
                found: snapshot.state.casemapping().name(),
            });
        }
        self.state = snapshot.state;
        self.observe_stamp(Stamp {
            counter: snapshot.clock,
            node: self.node,
        });
        self.next_uid = snapshot.next_uid;
        self.next_uid = self.next_uid.max(self.uid_floor);
        self.next_seq = applied.get(&self.origin).copied().unwrap_or(0);
        self.applied = applied;
        for (folded, entry) in snapshot.whowas {
            self.whowas.push(folded, entry);
        }
        self.refresh_gauges();
        Ok(())
    }

    /// A fresh message id (UUIDv7) that sorts after every message this core has applied, so
    /// history puts a message after everything its sender could have read, across nodes too
    /// ([`MsgId::following`]).
    pub fn mint_msgid(&mut self) -> MsgId {
        let id = MsgId::following(MsgId(uuid::Uuid::now_v7().as_u128()), self.msgid_seen);
        self.msgid_seen = self.msgid_seen.max(id);
        id
    }

    fn see_msgid(&mut self, op: &Op) {
        if let OpBody::Message { msgid, .. } = &op.body {
            self.msgid_seen = self.msgid_seen.max(*msgid);
        }
    }

    /// The receive rule, with the clock's next ceiling on its way to the disk if the stamp took
    /// the clock close to its last one.
    fn observe_stamp(&mut self, stamp: Stamp) {
        self.clock.observe(stamp);
        self.persist_clock_ceiling();
    }

    /// Hands the sink the clock's next ceiling, if it asked for one.
    fn persist_clock_ceiling(&mut self) {
        if let Some(ceiling) = self.clock.take_ceiling_to_persist() {
            self.sink.persist_clock_ceiling(ceiling);
        }
    }

    /// Restart: make sure the next local stamp is above anything this node may have issued
    /// before it stopped (its persisted clock ceiling).
    pub fn restore_clock(&mut self, persisted_ceiling: u64) {
        self.clock = LamportClock::restore(self.node, persisted_ceiling.max(self.clock.current()));
        self.persist_clock_ceiling();
    }

    /// Record WHOWAS entries for a nick that is about to go away (quit, kill, nick change).
    fn remember_departing_identity(&mut self, op: &Op) {
        let uid = match &op.body {
            OpBody::UserDepart { uid, .. } | OpBody::NickChange { uid, .. } => *uid,
            _ => return,
        };
        if let Some(user) = self.state.user(uid) {
            let entry = crate::whowas::WhowasEntry::from_user(&user, op.wall_ms);
            let key = self.state.casemapping().fold(&user.nick);
            self.whowas.push(key, entry);
        }
    }

    fn refresh_gauges(&mut self) {
        let users = self.state.user_count();
        self.metrics.users.set(users as i64);
        self.metrics.channels.set(self.state.channel_count() as i64);
        self.max_global = self.max_global.max(users);
        self.max_local = self.max_local.max(self.local.len());
    }

    /// Queue `line` for `to`: into the outbox if `to` issued the command being handled, else onto
    /// its connection. Users on other nodes are not reached here.
    pub fn deliver(&self, outbox: &mut Outbox, to: Uid, line: bytes::Bytes) {
        if outbox.issuer == Some(to) {
            outbox.lines.push(line);
        } else if let Some(local) = self.local.get(&to) {
            local.queue(line, &self.metrics);
        }
    }

    /// Capabilities of a local user (none for remote or unknown users).
    pub fn caps_of(&self, uid: Uid) -> Caps {
        self.local.get(&uid).map(|l| l.caps).unwrap_or_default()
    }

    /// `nick!user@host` of a visible user.
    pub fn mask_of(&self, uid: Uid) -> Option<String> {
        self.state.user(uid).as_ref().map(user_mask)
    }

    /// Local users sharing at least one channel with `uid` (not including `uid` itself).
    pub fn local_neighbours(&self, uid: Uid) -> Vec<Uid> {
        let mut out = Vec::new();
        for channel in self.state.channels_of(uid) {
            for (member, _) in channel.members() {
                if member != uid && self.local.contains_key(&member) {
                    out.push(member);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The tenant's metrics.
    pub fn metrics(&self) -> &TenantMetrics {
        &self.metrics
    }
}

/// `nick!user@host` of a user.
pub fn user_mask(user: &UserView) -> String {
    format!("{}!{}@{}", user.nick, user.user, user.host)
}

/// A stable, bounded name for an op kind (metrics label).
pub fn op_kind(body: &OpBody) -> &'static str {
    match body {
        OpBody::UserArrive { .. } => "user_arrive",
        OpBody::UserDepart { .. } => "user_depart",
        OpBody::NickChange { .. } => "nick_change",
        OpBody::SetAway { .. } => "set_away",
        OpBody::SetRealname { .. } => "set_realname",
        OpBody::SetHost { .. } => "set_host",
        OpBody::SetAccount { .. } => "set_account",
        OpBody::SetUserMode { .. } => "set_user_mode",
        OpBody::Join { .. } => "join",
        OpBody::Leave { .. } => "leave",
        OpBody::SetPrefix { .. } => "set_prefix",
        OpBody::SetChannelFlag { .. } => "set_channel_flag",
        OpBody::SetKey { .. } => "set_key",
        OpBody::SetLimit { .. } => "set_limit",
        OpBody::SetTopic { .. } => "set_topic",
        OpBody::ListAdd { .. } => "list_add",
        OpBody::ListRemove { .. } => "list_remove",
        OpBody::ChannelReset { .. } => "channel_reset",
        OpBody::Message { .. } => "message",
    }
}

/// One tenant network as hosted on this node.
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Node facts shown to this tenant's clients.
    pub node: NodeInfo,
    config: RwLock<Arc<TenantConfig>>,
    core: Mutex<Core>,
    log: latticed_eventlog::EventLog,
    metrics: TenantMetrics,
    rehasher: Option<Arc<dyn Rehasher>>,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    deadlines: Arc<Deadlines>,
}

impl Tenant {
    /// A tenant runtime with empty state.
    pub fn new(
        config: Arc<TenantConfig>,
        node: NodeInfo,
        metrics: TenantMetrics,
        sink: Arc<dyn OpSink>,
        log: latticed_eventlog::EventLog,
        rehasher: Option<Arc<dyn Rehasher>>,
    ) -> Tenant {
        let id = TenantId(config.name.clone());
        let casemapping = match config.casemapping {
            latticed_config::CaseMappingName::Ascii => CaseMapping::Ascii,
            latticed_config::CaseMappingName::Rfc1459 => CaseMapping::Rfc1459,
        };
        let core = Core {
            state: TenantState::new(id.clone(), casemapping),
            clock: LamportClock::new(node.id),
            node: node.id,
            origin: node.origin(),
            next_seq: 0,
            next_uid: node.epoch << 32,
            msgid_seen: MsgId(0),
            uid_floor: node.epoch << 32,
            local: FxHashMap::default(),
            unregistered: 0,
            max_local: 0,
            max_global: 0,
            whowas: Whowas::new(config.limits.whowas_entries),
            monitors: HashMap::new(),
            monitor_lists: FxHashMap::default(),
            invites: HashSet::new(),
            sink,
            metrics: metrics.clone(),
            server_name: node.server_name.clone(),
            applied: BTreeMap::new(),
            hidden: Default::default(),
        };
        Tenant {
            id,
            node,
            config: RwLock::new(config),
            core: Mutex::new(core),
            log,
            metrics,
            rehasher,
            per_ip: Mutex::new(HashMap::new()),
            deadlines: Deadlines::new(),
        }
    }

    /// The registration and ping deadlines of this tenant's connections.
    pub(crate) fn deadlines(&self) -> &Arc<Deadlines> {
        &self.deadlines
    }

    /// The tenant's current configuration.
    pub fn config(&self) -> Arc<TenantConfig> {
        self.config.read().clone()
    }

    /// Swap in a reloaded configuration (REHASH). Listeners and casemapping are not changed at run time.
    pub fn set_config(&self, config: Arc<TenantConfig>) {
        *self.config.write() = config;
    }

    /// Lock the tenant's core for one command.
    pub fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock()
    }

    /// The tenant's metrics.
    pub fn metrics(&self) -> &TenantMetrics {
        &self.metrics
    }

    /// The node's event log, for history queries.
    pub fn log(&self) -> &latticed_eventlog::EventLog {
        &self.log
    }

    /// Reload the configuration, if this node was started from a file.
    pub fn rehash(&self) -> Result<(), String> {
        match &self.rehasher {
            Some(r) => r.rehash(),
            None => Ok(()),
        }
    }

    /// Count a new connection from `ip` against the per-IP limit. Returns false (and counts nothing)
    /// when the limit is reached and the address is not exempt.
    pub fn admit_ip(&self, ip: IpAddr) -> bool {
        let config = self.config();
        let exempt = config.flood.is_exempt(ip);
        let mut counts = self.per_ip.lock();
        let count = counts.entry(ip).or_insert(0);
        if !exempt && *count >= config.flood.max_connections_per_ip {
            if *count == 0 {
                counts.remove(&ip);
            }
            return false;
        }
        *count += 1;
        true
    }

    /// Release a connection counted by [`Tenant::admit_ip`].
    pub fn release_ip(&self, ip: IpAddr) {
        let mut counts = self.per_ip.lock();
        if let Some(count) = counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }
}
