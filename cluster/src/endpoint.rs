//! The node's one QUIC endpoint: a UDP socket that both accepts links and dials them, with the
//! transport tuned for failure detection (explicit keep-alive and idle timeout) and one stream per link.

use std::sync::Arc;

use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::dialer;
use crate::error::ClusterError;
use crate::handshake;
use crate::link;
use crate::settings::ClusterSettings;
use crate::shared::{Payload, Shared};

/// Transport parameters shared by both directions.
pub(crate) fn transport(settings: &ClusterSettings) -> Result<TransportConfig, ClusterError> {
    let idle = IdleTimeout::try_from(settings.idle_timeout).map_err(|_| {
        ClusterError::InvalidSettings(format!(
            "idle timeout {:?} is too long for QUIC",
            settings.idle_timeout
        ))
    })?;
    let mut transport = TransportConfig::default();
    transport
        .keep_alive_interval(Some(settings.keepalive))
        .max_idle_timeout(Some(idle))
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

/// Binds the endpoint's socket.
pub(crate) fn bind(
    settings: &ClusterSettings,
    server: quinn::ServerConfig,
) -> Result<quinn::Endpoint, ClusterError> {
    quinn::Endpoint::server(server, settings.listen).map_err(|source| ClusterError::Bind {
        address: settings.listen,
        source,
    })
}

/// Accepts connections until shutdown, each handshake in its own task, at most
/// [`MAX_CONCURRENT_HANDSHAKES`](crate::shared::MAX_CONCURRENT_HANDSHAKES) at once.
pub(crate) async fn accept_loop<T: Payload>(shared: Arc<Shared<T>>) {
    loop {
        let incoming = tokio::select! {
            incoming = shared.endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => return,
            },
            () = shared.cancel.cancelled() => return,
        };
        let Ok(slot) = Arc::clone(&shared.handshake_slots).try_acquire_owned() else {
            tracing::warn!(remote = %incoming.remote_address(), "too many cluster handshakes at once; refusing");
            incoming.refuse();
            continue;
        };
        let task = Arc::clone(&shared);
        shared.tasks.spawn(async move {
            let remote = incoming.remote_address();
            let attempt = tokio::select! {
                attempt = handshake::accept(&task, incoming) => attempt,
                () = task.cancel.cancelled() => return,
            };
            drop(slot);
            match attempt {
                Ok(handshake) => link::run(&task, handshake).await,
                Err(err) => dialer::report(&task, remote, err),
            }
        });
    }
}
