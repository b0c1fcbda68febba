//! Invariant checks, asked of each node through IRC only: snapshots of channel state and users
//! (NAMES, TOPIC, MODE, ban list, WHO), history (CHATHISTORY with paging) and tenant isolation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::irc::{fold, Client, Msg};
use crate::workload::{Acked, BETA_CHANNEL, CHANNELS};

/// Whether a (case-folded) nick is one of the harness's observers (`obs<n>` on alpha, `bobs<n>`
/// on beta): they only query, so snapshots of the network leave them out.
pub fn is_observer(folded: &str) -> bool {
    folded.starts_with("obs") || folded.starts_with("bobs")
}

/// How long one query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one node says about one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChanState {
    /// NAMES, with prefixes, sorted; empty when the channel does not exist.
    pub names: BTreeSet<String>,
    /// TOPIC text ("" when unset).
    pub topic: String,
    /// MODE reply (modes and their parameters).
    pub modes: String,
    /// Ban masks.
    pub bans: BTreeSet<String>,
}

/// What one node says about the whole tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per channel, by name.
    pub channels: BTreeMap<String, ChanState>,
    /// Case-folded nick → "username realname" from `WHO * %unr`, the observers themselves excluded
    /// (see [`is_observer`]).
    pub users: BTreeMap<String, String>,
    /// Every nick WHO listed, folded, duplicates kept (for the uniqueness check).
    pub who_nicks: Vec<String>,
}

/// An observer connection to one node, used only for queries.
pub struct Observer {
    /// The node.
    pub node: u16,
    /// The channels its snapshots cover: the workload's on alpha, [`BETA_CHANNEL`] on beta.
    pub channels: &'static [&'static str],
    client: Client,
}

fn timeout_err(what: &str) -> String {
    format!("no complete answer to {what} within {QUERY_TIMEOUT:?}")
}

impl Observer {
    /// Registers an observer `obs<node>` (or `bobs<node>` on tenant beta).
    pub fn connect(cluster: &Cluster, node: u16, tenant: usize) -> Result<Observer, String> {
        let spec = &cluster.nodes[usize::from(node - 1)].spec;
        let (nick, channels): (String, &'static [&'static str]) = if tenant == 0 {
            (format!("obs{node}"), &CHANNELS)
        } else {
            (format!("bobs{node}"), &[BETA_CHANNEL])
        };
        Client::connect(
            spec.irc[tenant],
            &format!("n{node}/observer"),
            &nick,
            "observer",
            "observer",
            QUERY_TIMEOUT,
        )
        .map(|client| Observer {
            node,
            channels,
            client,
        })
        .map_err(|e| e.to_string())
    }

    fn query(&mut self, line: &str, end: impl FnMut(&Msg) -> bool) -> Result<Vec<Msg>, String> {
        self.client.send(line).map_err(|e| e.to_string())?;
        self.client
            .collect_until(Instant::now() + QUERY_TIMEOUT, end)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| timeout_err(line))
    }

    /// NAMES / TOPIC / MODE / MODE b of one channel.
    pub fn channel(&mut self, chan: &str) -> Result<ChanState, String> {
        let fc = fold(chan);
        let is = |m: &Msg, i: usize| fold(m.param(i)) == fc;
        let mut st = ChanState::default();
        for m in self.query(&format!("NAMES {chan}"), |m| m.command == "366" && is(m, 1))? {
            if m.command == "353" && is(&m, 2) {
                st.names
                    .extend(m.last().split_whitespace().map(str::to_owned));
            }
        }
        for m in self.query(&format!("TOPIC {chan}"), |m| {
            matches!(m.command.as_str(), "331" | "332" | "403" | "442") && is(m, 1)
        })? {
            if m.command == "332" {
                st.topic = m.last().to_owned();
            }
        }
        for m in self.query(&format!("MODE {chan}"), |m| {
            matches!(m.command.as_str(), "324" | "403") && is(m, 1)
        })? {
            if m.command == "324" {
                st.modes = m.params[2..].join(" ");
            }
        }
        for m in self.query(&format!("MODE {chan} b"), |m| {
            matches!(m.command.as_str(), "368" | "403" | "482") && is(m, 1)
        })? {
            if m.command == "367" && is(&m, 1) {
                st.bans.insert(m.param(2).to_owned());
            }
        }
        Ok(st)
    }

    /// `WHO * %tunr,77`: every visible user.
    pub fn who(&mut self) -> Result<Vec<(String, String)>, String> {
        let rows = self.query("WHO * %tunr,77", |m| m.command == "315")?;
        Ok(rows
            .iter()
            .filter(|m| m.command == "354" && m.param(1) == "77")
            .map(|m| {
                (
                    m.param(3).to_owned(),
                    format!("{} {}", m.param(2), m.param(4)),
                )
            })
            .collect())
    }

    /// A full snapshot of this observer's channels and of every user.
    pub fn snapshot(&mut self) -> Result<Snapshot, String> {
        let mut snap = Snapshot::default();
        for chan in self.channels {
            let st = self.channel(chan)?;
            snap.channels.insert((*chan).to_owned(), st);
        }
        for (nick, who) in self.who()? {
            let f = fold(&nick);
            snap.who_nicks.push(f.clone());
            if !is_observer(&f) {
                snap.users.insert(f, who);
            }
        }
        Ok(snap)
    }

    /// Every message text in the channel's history, paging back with CHATHISTORY BEFORE. Joins the
    /// channel first (history is for members).
    pub fn history(&mut self, chan: &str) -> Result<BTreeSet<String>, String> {
        let fc = fold(chan);
        self.query(&format!("JOIN {chan}"), |m| {
            (m.command == "366" || m.command.starts_with('4')) && fold(m.param(1)) == fc
        })?;
        let mut texts = BTreeSet::new();
        let mut anchor = "*".to_owned();
        for _ in 0..100 {
            let cmd = if anchor == "*" {
                format!("CHATHISTORY LATEST {chan} * 1000")
            } else {
                format!("CHATHISTORY BEFORE {chan} {anchor} 1000")
            };
            let lines = self.query(&cmd, |m| {
                (m.command == "BATCH" && m.param(0).starts_with('-')) || m.command == "FAIL"
            })?;
            if let Some(fail) = lines.iter().find(|m| m.command == "FAIL") {
                return Err(format!("{cmd} answered FAIL {}", fail.params.join(" ")));
            }
            let page: Vec<&Msg> = lines
                .iter()
                .filter(|m| {
                    m.tag("batch").is_some() && m.command == "PRIVMSG" && fold(m.param(0)) == fc
                })
                .collect();
            for m in &page {
                texts.insert(m.last().to_owned());
            }
            let oldest = page.first().and_then(|m| m.tag("msgid"));
            match oldest {
                Some(id) if page.len() >= 1000 => anchor = format!("msgid={id}"),
                _ => break,
            }
        }
        Ok(texts)
    }

    /// NAMES, LIST and WHO as seen on this observer's tenant.
    pub fn tenant_view(&mut self) -> Result<(BTreeSet<String>, Vec<String>), String> {
        let mut channels = BTreeSet::new();
        for m in self.query("LIST", |m| m.command == "323")? {
            if m.command == "322" {
                channels.insert(fold(m.param(1)));
            }
        }
        let nicks = self.who()?.into_iter().map(|(n, _)| fold(&n)).collect();
        Ok((channels, nicks))
    }

    /// Names in a channel on this tenant (for isolation: alpha's channels on beta).
    pub fn names(&mut self, chan: &str) -> Result<BTreeSet<String>, String> {
        let fc = fold(chan);
        let mut out = BTreeSet::new();
        for m in self.query(&format!("NAMES {chan}"), |m| {
            m.command == "366" && fold(m.param(1)) == fc
        })? {
            if m.command == "353" {
                out.extend(m.last().split_whitespace().map(str::to_owned));
            }
        }
        Ok(out)
    }
}

/// The outcome of one invariant.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Invariant name.
    pub name: &'static str,
    /// Whether it held.
    pub pass: bool,
    /// Evidence: what was compared, and for failures which node, channel, expected vs got.
    pub evidence: Vec<String>,
}

/// Differences between two snapshots, as report lines naming each side by its label (`n1`, or
/// `n2 replay` for a snapshot rebuilt from a node's log).
pub fn diff(a_label: &str, a: &Snapshot, b_label: &str, b: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (chan, sa) in &a.channels {
        let sb = b.channels.get(chan).cloned().unwrap_or_default();
        if sa.names != sb.names {
            out.push(format!(
                "{chan} NAMES: {a_label} {:?} vs {b_label} {:?}",
                sa.names, sb.names
            ));
        }
        if sa.topic != sb.topic {
            out.push(format!(
                "{chan} TOPIC: {a_label} {:?} vs {b_label} {:?}",
                sa.topic, sb.topic
            ));
        }
        if sa.modes != sb.modes {
            out.push(format!(
                "{chan} MODE: {a_label} {:?} vs {b_label} {:?}",
                sa.modes, sb.modes
            ));
        }
        if sa.bans != sb.bans {
            out.push(format!(
                "{chan} bans: {a_label} {:?} vs {b_label} {:?}",
                sa.bans, sb.bans
            ));
        }
    }
    for (nick, who) in &a.users {
        match b.users.get(nick) {
            Some(w) if w == who => {}
            Some(w) => out.push(format!(
                "nick {nick}: {a_label} is {who:?}, {b_label} is {w:?}"
            )),
            None => out.push(format!(
                "nick {nick} ({who}) on {a_label}, absent on {b_label}"
            )),
        }
    }
    for (nick, who) in &b.users {
        if !a.users.contains_key(nick) {
            out.push(format!(
                "nick {nick} ({who}) on {b_label}, absent on {a_label}"
            ));
        }
    }
    out
}

/// Takes snapshots of every serving node until they agree or `bound` passes. Returns the last
/// snapshots and the time convergence took (None when it did not converge).
pub fn await_convergence(
    observers: &mut [Observer],
    bound: Duration,
) -> (NodeSnapshots, Option<Duration>) {
    let start = Instant::now();
    loop {
        let snaps: Vec<(u16, Result<Snapshot, String>)> = observers
            .iter_mut()
            .map(|o| (o.node, o.snapshot()))
            .collect();
        let oks: Vec<&Snapshot> = snaps.iter().filter_map(|(_, s)| s.as_ref().ok()).collect();
        let agreed = oks.len() == snaps.len()
            && oks
                .windows(2)
                .all(|w| w[0].channels == w[1].channels && w[0].users == w[1].users);
        if agreed {
            return (snaps, Some(start.elapsed()));
        }
        if start.elapsed() >= bound {
            return (snaps, None);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What each node answered: its id and its snapshot, or why it could not take one.
pub type NodeSnapshots = Vec<(u16, Result<Snapshot, String>)>;

/// Invariant 1 from the final snapshots.
pub fn convergence(
    snaps: &[(u16, Result<Snapshot, String>)],
    took: Option<Duration>,
    bound: Duration,
) -> Verdict {
    let mut evidence = Vec::new();
    let mut pass = took.is_some();
    for (node, s) in snaps {
        if let Err(e) = s {
            pass = false;
            evidence.push(format!("n{node}: snapshot failed: {e}"));
        }
    }
    let oks: Vec<(u16, &Snapshot)> = snaps
        .iter()
        .filter_map(|(n, s)| s.as_ref().ok().map(|s| (*n, s)))
        .collect();
    if let Some((n0, s0)) = oks.first() {
        for (n, s) in &oks[1..] {
            evidence.extend(diff(&format!("n{n0}"), s0, &format!("n{n}"), s));
        }
        let chans = s0.channels.iter().map(|(c, st)| {
            format!(
                "{c}: {} members, topic {:?}, modes {:?}, {} bans",
                st.names.len(),
                st.topic,
                st.modes,
                st.bans.len()
            )
        });
        if pass {
            evidence.push(format!(
                "all {} nodes agree after {:.1} s: {} users",
                oks.len(),
                took.map(|d| d.as_secs_f64()).unwrap_or(0.0),
                s0.users.len()
            ));
            evidence.extend(chans);
        } else if took.is_none() {
            evidence.insert(0, format!("not converged within {bound:?}"));
        }
    }
    Verdict {
        name: "1 convergence",
        pass,
        evidence,
    }
}

/// Invariant 2: no nick twice in any node's WHO, and no two connected clients believing they hold
/// the same nick.
pub fn uniqueness(
    snaps: &[(u16, Result<Snapshot, String>)],
    believed: &[(u16, String, String)],
) -> Verdict {
    let mut evidence = Vec::new();
    for (node, s) in snaps {
        let Ok(s) = s else { continue };
        let mut seen = BTreeSet::new();
        for n in &s.who_nicks {
            if !seen.insert(n) {
                evidence.push(format!("n{node}: WHO lists nick {n} more than once"));
            }
        }
    }
    let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, label, nick) in believed {
        holders.entry(fold(nick)).or_default().push(label.clone());
    }
    for (nick, who) in &holders {
        if who.len() > 1 {
            evidence.push(format!("clients {who:?} all believe they are {nick}"));
        }
    }
    let pass = evidence.is_empty();
    if pass {
        evidence.push(format!(
            "{} connected workload clients hold {} distinct nicks; WHO has no duplicates",
            believed.len(),
            holders.len()
        ));
    }
    Verdict {
        name: "2 uniqueness",
        pass,
        evidence,
    }
}

/// Invariant 3: every acknowledged message is in every serving node's history.
pub fn no_loss(observers: &mut [Observer], acked: &[Acked]) -> Verdict {
    let mut evidence = Vec::new();
    let mut pass = true;
    for o in observers.iter_mut() {
        for chan in CHANNELS {
            let want: Vec<&Acked> = acked
                .iter()
                .filter(|a| fold(&a.channel) == fold(chan))
                .collect();
            match o.history(chan) {
                Ok(have) => {
                    let missing: Vec<&&Acked> =
                        want.iter().filter(|a| !have.contains(&a.text)).collect();
                    if !missing.is_empty() {
                        pass = false;
                        let examples: Vec<String> = missing
                            .iter()
                            .take(3)
                            .map(|a| format!("{:?} (sent on n{})", a.text, a.node))
                            .collect();
                        evidence.push(format!("n{} {chan}: {} of {} acknowledged messages missing from CHATHISTORY, e.g. {}", o.node, missing.len(), want.len(), examples.join(", ")));
                    }
                }
                Err(e) => {
                    pass = false;
                    evidence.push(format!("n{} {chan}: history query failed: {e}", o.node));
                }
            }
        }
    }
    if pass {
        evidence.push(format!(
            "{} acknowledged messages found on all {} serving nodes",
            acked.len(),
            observers.len()
        ));
    }
    Verdict {
        name: "3 no loss",
        pass,
        evidence,
    }
}

/// Invariant 4: tenant beta sees nothing of alpha and alpha nothing of beta.
pub fn isolation(
    alpha: &mut [Observer],
    beta: &mut [Observer],
    alpha_users: &BTreeSet<String>,
    beta_nicks: &[String],
) -> Verdict {
    let mut evidence = Vec::new();
    let beta_folded: BTreeSet<String> = beta_nicks.iter().map(|n| fold(n)).collect();
    for o in beta.iter_mut() {
        match o.tenant_view() {
            Ok((chans, nicks)) => {
                for c in chans
                    .iter()
                    .filter(|c| CHANNELS.iter().any(|a| fold(a) == **c))
                {
                    evidence.push(format!("n{} beta LIST shows alpha channel {c}", o.node));
                }
                for n in nicks.iter().filter(|n| {
                    alpha_users.contains(*n) || n.starts_with("anchor") || n.starts_with("obs")
                }) {
                    evidence.push(format!("n{} beta WHO shows alpha user {n}", o.node));
                }
            }
            Err(e) => evidence.push(format!("n{} beta query failed: {e}", o.node)),
        }
        for chan in CHANNELS {
            match o.names(chan) {
                Ok(names) if !names.is_empty() => {
                    evidence.push(format!("n{} beta NAMES {chan} = {names:?}", o.node))
                }
                Ok(_) => {}
                Err(e) => evidence.push(format!("n{} beta NAMES {chan} failed: {e}", o.node)),
            }
        }
    }
    for o in alpha.iter_mut() {
        match o.tenant_view() {
            Ok((chans, nicks)) => {
                if chans.contains(&fold(BETA_CHANNEL)) {
                    evidence.push(format!(
                        "n{} alpha LIST shows beta channel {BETA_CHANNEL}",
                        o.node
                    ));
                }
                for n in nicks
                    .iter()
                    .filter(|n| beta_folded.contains(*n) || n.starts_with("bobs"))
                {
                    evidence.push(format!("n{} alpha WHO shows beta user {n}", o.node));
                }
            }
            Err(e) => evidence.push(format!("n{} alpha query failed: {e}", o.node)),
        }
    }
    let pass = evidence.is_empty();
    if pass {
        evidence.push(format!(
            "beta ({} users) and alpha ({} users) see nothing of each other on {} nodes",
            beta_folded.len(),
            alpha_users.len(),
            beta.len()
        ));
    }
    Verdict {
        name: "4 isolation",
        pass,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(names: &[&str], topic: &str, users: &[(&str, &str)]) -> Snapshot {
        let mut s = Snapshot::default();
        s.channels.insert(
            "#chaos0".into(),
            ChanState {
                names: names.iter().map(|n| n.to_string()).collect(),
                topic: topic.into(),
                modes: "+nt".into(),
                bans: BTreeSet::new(),
            },
        );
        for (n, u) in users {
            s.users.insert(n.to_string(), u.to_string());
            s.who_nicks.push(n.to_string());
        }
        s
    }

    #[test]
    fn diff_names_the_channel_field_and_nodes() {
        let a = snap(&["@x", "y"], "t1", &[("x", "ux rx")]);
        let b = snap(&["@x"], "t2", &[("x", "uz rz"), ("w", "uw rw")]);
        let d = diff("n1", &a, "n2", &b);
        assert!(
            d.iter().any(|l| l.starts_with("#chaos0 NAMES: n1")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("#chaos0 TOPIC")), "{d:?}");
        assert!(d.iter().any(|l| l.contains("nick x: n1")), "{d:?}");
        assert!(
            d.iter()
                .any(|l| l.contains("nick w (uw rw) on n2, absent on n1")),
            "{d:?}"
        );
        assert!(diff("n1", &a, "n2", &a.clone()).is_empty());
    }

    #[test]
    fn convergence_fails_on_difference_and_passes_on_agreement() {
        let a = snap(&["x"], "", &[]);
        let b = snap(&["y"], "", &[]);
        let bound = Duration::from_secs(1);
        let split = vec![(1, Ok(a.clone())), (2, Ok(b))];
        assert!(!convergence(&split, None, bound).pass);
        let agreed = vec![(1, Ok(a.clone())), (2, Ok(a))];
        assert!(convergence(&agreed, Some(Duration::ZERO), bound).pass);
        let broken = vec![(1, Err("no answer".to_owned()))];
        assert!(!convergence(&broken, Some(Duration::ZERO), bound).pass);
    }

    #[test]
    fn uniqueness_catches_shared_nicks() {
        let mut s = snap(&[], "", &[("x", "a"), ("y", "b")]);
        let believed = vec![
            (1, "n1/a".to_owned(), "Nick".to_owned()),
            (2, "n2/b".to_owned(), "nick".to_owned()),
        ];
        assert!(!uniqueness(&[(1, Ok(s.clone()))], &believed).pass);
        s.who_nicks.push("x".into());
        assert!(!uniqueness(&[(1, Ok(s.clone()))], &[]).pass);
        let fine = snap(&[], "", &[("x", "a")]);
        assert!(uniqueness(&[(1, Ok(fine))], &believed[..1]).pass);
    }
}
