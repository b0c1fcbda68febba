//! A UDP proxy in front of one node's cluster address, so a test can cut a single link of a
//! cluster (a partial partition) while every other link stays up.
//!
//! One node is configured to reach its peer at the proxy's address; the proxy forwards every
//! datagram to the peer from a socket of its own and the peer's answers back to the last sender.
//! While cut, it drops everything in both directions, so QUIC sees silence and declares the link
//! dead after its idle timeout; mended, the node's dialer links again through it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Largest datagram forwarded (QUIC never sends more than this on loopback).
const MAX_DATAGRAM: usize = 65_535;

/// A running proxy; it stops when dropped.
pub struct LinkProxy {
    /// Where the node that dials through the proxy sends its datagrams.
    pub address: SocketAddr,
    cut: Arc<AtomicBool>,
    tasks: [JoinHandle<()>; 2],
}

impl LinkProxy {
    /// A proxy on a fresh loopback port forwarding to `target`, open to begin with.
    pub async fn start(target: SocketAddr) -> LinkProxy {
        let front = Arc::new(
            UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy's front socket"),
        );
        let back = Arc::new(
            UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy's back socket"),
        );
        back.connect(target)
            .await
            .expect("connect the proxy to its target");
        let address = front.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let sender: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let outward = tokio::spawn({
            let (front, back, cut, sender) =
                (front.clone(), back.clone(), cut.clone(), sender.clone());
            async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while let Ok((len, from)) = front.recv_from(&mut buf).await {
                    *sender.lock().expect("proxy sender lock") = Some(from);
                    if !cut.load(Ordering::Acquire) {
                        // A refused send (the target not listening yet) is a lost datagram,
                        // which QUIC retransmits.
                        let _ = back.send(&buf[..len]).await;
                    }
                }
            }
        });
        let inward = tokio::spawn({
            let cut = cut.clone();
            async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    let Ok(len) = back.recv(&mut buf).await else {
                        // An ICMP error from an earlier send to a target not yet up: go on.
                        continue;
                    };
                    let to = *sender.lock().expect("proxy sender lock");
                    if let (Some(to), false) = (to, cut.load(Ordering::Acquire)) {
                        let _ = front.send_to(&buf[..len], to).await;
                    }
                }
            }
        });
        LinkProxy {
            address,
            cut,
            tasks: [outward, inward],
        }
    }

    /// Drop every datagram, both ways, until [`LinkProxy::mend`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
    }

    /// Forward again.
    pub fn mend(&self) {
        self.cut.store(false, Ordering::Release);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
