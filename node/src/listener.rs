//! Client listeners: accept TCP (optionally TLS) connections and hand each to a connection actor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use latticed_actors::{serve, serve_tcp, ClientSocket, ConnInfo, Reactor, Tenant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound client listener, watched by tokio, whose accepted sockets are not.
pub struct Listener(AsyncFd<std::net::TcpListener>);

impl Listener {
    /// Take over a bound listener.
    pub fn new(listener: TcpListener) -> std::io::Result<Listener> {
        let listener = listener.into_std()?;
        // SAFETY: the AsyncFd owns the listener, whose descriptor stays open and the same for
        // as long as the AsyncFd lives.
        let watched = unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }?;
        Ok(Listener(watched))
    }
}

/// Accept connections on `listener` for `tenant` until `stop` is cancelled. Accepted sockets
/// are watched by `reactor`, not by tokio's driver (see [`latticed_actors::reactor`]).
pub async fn accept_loop(
    listener: Listener,
    reactor: Reactor,
    tenant: Arc<Tenant>,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let Listener(listener) = listener;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.async_io(Interest::READABLE, |l| l.accept()) => accepted,
        };
        let stream = accepted.and_then(|(stream, peer)| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%err, "could not set TCP_NODELAY");
            }
            Ok((reactor.register(stream)?, peer))
        });
        let (stream, peer) = match stream {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(tenant = %tenant.id, %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Two kinds of task, so that a plain connection's task is not the size of a TLS one
        // (a TLS session lives inside its task): memory per idle client counts.
        match &tls {
            None => {
                tokio::spawn(serve_tcp(tenant.clone(), stream, info(peer, false)));
            }
            Some(acceptor) => {
                tokio::spawn(serve_tls(tenant.clone(), stream, peer, acceptor.clone()));
            }
        }
    }
}

/// Finish the TLS handshake (within [`TLS_HANDSHAKE_TIMEOUT`]), then serve the client.
async fn serve_tls(
    tenant: Arc<Tenant>,
    stream: ClientSocket,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
) {
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve(tenant, stream, info(peer, true)).await,
        Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

fn info(peer: SocketAddr, tls: bool) -> ConnInfo {
    ConnInfo { ip: peer.ip(), tls }
}
