//! The UDP link proxy: every node reaches every peer through one proxy per ordered pair, so the
//! harness can cut, slow, drop, duplicate and reorder cluster datagrams per direction without
//! touching the host's firewall. A node's `[[cluster.peers]] address` is the proxy's front port;
//! the proxy forwards to the peer's real cluster address from its own back socket.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::error::{Error, Result};

/// What happens to datagrams travelling in one direction between two nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Impairment {
    /// Drop every datagram (a partition in this direction).
    pub blocked: bool,
    /// Percentage of datagrams dropped at random.
    pub drop_pct: u8,
    /// Percentage of datagrams sent twice.
    pub dup_pct: u8,
    /// Fixed delay added to every datagram, in ms.
    pub delay_ms: u32,
    /// Percentage of datagrams held back an extra 5–40 ms, so they overtake each other.
    pub reorder_pct: u8,
}

/// The current impairment of every direction (from node id, to node id); shared by all proxies
/// and changed by the fault schedule while traffic flows.
#[derive(Default)]
pub struct FaultTable {
    dirs: Mutex<HashMap<(u16, u16), Impairment>>,
}

impl FaultTable {
    /// Sets the impairment of datagrams from node `from` to node `to`.
    pub fn set(&self, from: u16, to: u16, imp: Impairment) {
        self.lock().insert((from, to), imp);
    }

    /// The impairment of datagrams from `from` to `to` (none by default).
    pub fn get(&self, from: u16, to: u16) -> Impairment {
        self.lock().get(&(from, to)).copied().unwrap_or_default()
    }

    /// Removes every impairment: the network is healed.
    pub fn heal(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u16, u16), Impairment>> {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A datagram waiting for its send time.
struct Pending {
    due: Instant,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The proxy for the link that node `from` dials toward node `to`.
pub struct LinkProxy {
    /// The address node `from` is configured to reach node `to` at.
    pub front: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Where a direction's datagrams go out: the socket and, for replies, the dialer's address
/// learned from its first datagram.
enum Dest {
    Fixed(SocketAddr),
    Learned(Arc<Mutex<Option<SocketAddr>>>),
}

impl LinkProxy {
    /// Starts the proxy for `from → to` on `bind_ip` (port chosen by the OS), forwarding to the
    /// real cluster address `target`. Impairments come from `table`; random choices from `seed`.
    pub fn start(
        from: u16,
        to: u16,
        bind_ip: std::net::IpAddr,
        target: SocketAddr,
        table: Arc<FaultTable>,
        seed: u64,
    ) -> Result<LinkProxy> {
        let bind = |what: &str| {
            UdpSocket::bind(SocketAddr::new(bind_ip, 0))
                .map_err(|e| Error::io(format!("proxy {from}->{to}: bind {what} socket"), e))
        };
        let front = bind("front")?;
        let back = bind("back")?;
        let front_addr = front
            .local_addr()
            .map_err(|e| Error::io("proxy: local address", e))?;
        let clone = |s: &UdpSocket| {
            s.try_clone()
                .map_err(|e| Error::io(format!("proxy {from}->{to}: clone socket"), e))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let dialer = Arc::new(Mutex::new(None));
        let mut threads = Vec::new();
        let legs = [
            (
                clone(&front)?,
                clone(&back)?,
                Dest::Fixed(target),
                (from, to),
                Some(dialer.clone()),
            ),
            (
                clone(&back)?,
                clone(&front)?,
                Dest::Learned(dialer),
                (to, from),
                None,
            ),
        ];
        for (i, (rx, tx, dest, dir, learn)) in legs.into_iter().enumerate() {
            let (queue_tx, queue_rx) = mpsc::channel::<Pending>();
            let stop_r = stop.clone();
            let table = table.clone();
            let rng = StdRng::seed_from_u64(
                seed ^ (u64::from(from) << 20) ^ (u64::from(to) << 8) ^ i as u64,
            );
            threads.push(std::thread::spawn(move || {
                receive_leg(rx, dir, learn, table, rng, queue_tx, stop_r)
            }));
            let stop_s = stop.clone();
            threads.push(std::thread::spawn(move || {
                send_leg(tx, dest, queue_rx, stop_s)
            }));
        }
        Ok(LinkProxy {
            front: front_addr,
            stop,
            threads,
        })
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Receives datagrams of one direction, applies the impairment and queues what survives.
fn receive_leg(
    rx: UdpSocket,
    dir: (u16, u16),
    learn: Option<Arc<Mutex<Option<SocketAddr>>>>,
    table: Arc<FaultTable>,
    mut rng: StdRng,
    queue: Sender<Pending>,
    stop: Arc<AtomicBool>,
) {
    if rx
        .set_read_timeout(Some(Duration::from_millis(100)))
        .is_err()
    {
        return;
    }
    let mut buf = vec![0u8; 65536];
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, src)) = rx.recv_from(&mut buf) else {
            continue;
        };
        if let Some(slot) = &learn {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(src);
        }
        let imp = table.get(dir.0, dir.1);
        if imp.blocked || (imp.drop_pct > 0 && rng.random_range(0..100u8) < imp.drop_pct) {
            continue;
        }
        let mut delay = u64::from(imp.delay_ms);
        if imp.reorder_pct > 0 && rng.random_range(0..100u8) < imp.reorder_pct {
            delay += rng.random_range(5..40u64);
        }
        let copies = if imp.dup_pct > 0 && rng.random_range(0..100u8) < imp.dup_pct {
            2
        } else {
            1
        };
        for _ in 0..copies {
            seq += 1;
            let pending = Pending {
                due: Instant::now() + Duration::from_millis(delay),
                seq,
                data: buf[..n].to_vec(),
            };
            if queue.send(pending).is_err() {
                return;
            }
        }
    }
}

/// Sends queued datagrams of one direction when they are due.
fn send_leg(tx: UdpSocket, dest: Dest, queue: Receiver<Pending>, stop: Arc<AtomicBool>) {
    let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(p)| p.due <= now) {
            let Some(Reverse(p)) = heap.pop() else { break };
            let to = match &dest {
                Dest::Fixed(a) => Some(*a),
                Dest::Learned(slot) => *slot.lock().unwrap_or_else(|p| p.into_inner()),
            };
            if let Some(to) = to {
                let _ = tx.send_to(&p.data, to);
            }
        }
        let wait = heap
            .peek()
            .map(|Reverse(p)| p.due.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        match queue.recv_timeout(wait) {
            Ok(p) => heap.push(Reverse(p)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket, Arc<FaultTable>, LinkProxy) {
        let lo = std::net::IpAddr::from([127, 0, 0, 1]);
        let node_a = UdpSocket::bind((lo, 0)).expect("bind a");
        let node_b = UdpSocket::bind((lo, 0)).expect("bind b");
        for s in [&node_a, &node_b] {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
        }
        let table = Arc::new(FaultTable::default());
        let proxy = LinkProxy::start(
            1,
            2,
            lo,
            node_b.local_addr().expect("addr"),
            table.clone(),
            7,
        )
        .expect("proxy");
        (node_a, node_b, table, proxy)
    }

    fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = [0u8; 64];
        s.recv_from(&mut buf)
            .ok()
            .map(|(n, a)| (buf[..n].to_vec(), a))
    }

    #[test]
    fn forwards_both_ways_and_blocks_one_direction() {
        let (a, b, table, proxy) = pair();
        a.send_to(b"hello", proxy.front).expect("send");
        let (data, via) = recv(&b).expect("b receives");
        assert_eq!(data, b"hello");
        b.send_to(b"back", via).expect("reply");
        assert_eq!(recv(&a).map(|(d, _)| d), Some(b"back".to_vec()));

        table.set(
            1,
            2,
            Impairment {
                blocked: true,
                ..Impairment::default()
            },
        );
        a.send_to(b"lost", proxy.front).expect("send");
        assert_eq!(recv(&b), None, "1->2 is blocked");
        b.send_to(b"still", via).expect("reply");
        assert_eq!(
            recv(&a).map(|(d, _)| d),
            Some(b"still".to_vec()),
            "2->1 still flows"
        );

        table.heal();
        a.send_to(b"again", proxy.front).expect("send");
        assert_eq!(recv(&b).map(|(d, _)| d), Some(b"again".to_vec()));
    }

    #[test]
    fn duplicates_when_asked() {
        let (a, b, table, proxy) = pair();
        table.set(
            1,
            2,
            Impairment {
                dup_pct: 100,
                ..Impairment::default()
            },
        );
        a.send_to(b"twice", proxy.front).expect("send");
        assert!(recv(&b).is_some());
        assert!(recv(&b).is_some(), "the duplicate arrives too");
    }
}
