//! Prometheus metrics for every tenant on this node.
//!
//! Labels are the tenant and, where useful, a small fixed set of kinds (command names the server
//! knows, delivery kinds). Never a nick or channel name: label cardinality stays bounded whatever
//! clients send.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The metric families, registered once per node.
#[derive(Clone)]
pub struct Metrics {
    connections: IntGaugeVec,
    connections_total: IntCounterVec,
    registrations_total: IntCounterVec,
    users: IntGaugeVec,
    channels: IntGaugeVec,
    split_hidden_users: IntGaugeVec,
    messages_in: IntCounterVec,
    messages_out: IntCounterVec,
    sendq_drops: IntCounterVec,
    flood_disconnects: IntCounterVec,
    rejected_connections: IntCounterVec,
    ops: IntCounterVec,
    fanout: HistogramVec,
}

impl Metrics {
    /// Create the metric families and register them in `registry`.
    pub fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let m = Metrics {
            connections: IntGaugeVec::new(
                Opts::new("latticed_connections", "Client connections open now"),
                &["tenant"],
            )?,
            connections_total: IntCounterVec::new(
                Opts::new("latticed_connections_total", "Client connections accepted"),
                &["tenant"],
            )?,
            registrations_total: IntCounterVec::new(
                Opts::new(
                    "latticed_registrations_total",
                    "Clients that completed registration",
                ),
                &["tenant"],
            )?,
            users: IntGaugeVec::new(
                Opts::new(
                    "latticed_users",
                    "Registered users on the tenant network (all nodes)",
                ),
                &["tenant"],
            )?,
            channels: IntGaugeVec::new(
                Opts::new("latticed_channels", "Channels on the tenant network"),
                &["tenant"],
            )?,
            split_hidden_users: IntGaugeVec::new(
                Opts::new(
                    "latticed_split_hidden_users",
                    "Users of peers unreachable past the grace period, shown to this node's clients as quit",
                ),
                &["tenant"],
            )?,
            messages_in: IntCounterVec::new(
                Opts::new(
                    "latticed_messages_in_total",
                    "Client lines received, by command",
                ),
                &["tenant", "command"],
            )?,
            messages_out: IntCounterVec::new(
                Opts::new(
                    "latticed_messages_out_total",
                    "Messages delivered to clients, by kind (privmsg, notice, tagmsg)",
                ),
                &["tenant", "kind"],
            )?,
            sendq_drops: IntCounterVec::new(
                Opts::new(
                    "latticed_sendq_drops_total",
                    "Connections closed because their send queue overflowed",
                ),
                &["tenant"],
            )?,
            flood_disconnects: IntCounterVec::new(
                Opts::new(
                    "latticed_flood_disconnects_total",
                    "Connections closed for excess flood",
                ),
                &["tenant"],
            )?,
            rejected_connections: IntCounterVec::new(
                Opts::new(
                    "latticed_rejected_connections_total",
                    "Connections refused by the per-IP limit",
                ),
                &["tenant"],
            )?,
            ops: IntCounterVec::new(
                Opts::new(
                    "latticed_ops_total",
                    "State ops created and applied, by kind",
                ),
                &["tenant", "kind"],
            )?,
            fanout: HistogramVec::new(
                HistogramOpts::new(
                    "latticed_fanout_recipients",
                    "Local recipients of one channel message",
                )
                .buckets(vec![
                    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0,
                ]),
                &["tenant"],
            )?,
        };
        registry.register(Box::new(m.connections.clone()))?;
        registry.register(Box::new(m.connections_total.clone()))?;
        registry.register(Box::new(m.registrations_total.clone()))?;
        registry.register(Box::new(m.users.clone()))?;
        registry.register(Box::new(m.channels.clone()))?;
        registry.register(Box::new(m.split_hidden_users.clone()))?;
        registry.register(Box::new(m.messages_in.clone()))?;
        registry.register(Box::new(m.messages_out.clone()))?;
        registry.register(Box::new(m.sendq_drops.clone()))?;
        registry.register(Box::new(m.flood_disconnects.clone()))?;
        registry.register(Box::new(m.rejected_connections.clone()))?;
        registry.register(Box::new(m.ops.clone()))?;
        registry.register(Box::new(m.fanout.clone()))?;
        Ok(m)
    }

    /// Count one op of `tenant`; `kind` comes from a fixed table of op kinds.
    pub fn op(&self, tenant: &str, kind: &'static str) {
        self.ops.with_label_values(&[tenant, kind]).inc();
    }

    /// The children of every family for one tenant, resolved once so the hot path does no label lookups.
    pub fn for_tenant(&self, tenant: &str) -> TenantMetrics {
        TenantMetrics {
            tenant: tenant.to_owned(),
            connections: self.connections.with_label_values(&[tenant]),
            connections_total: self.connections_total.with_label_values(&[tenant]),
            registrations_total: self.registrations_total.with_label_values(&[tenant]),
            users: self.users.with_label_values(&[tenant]),
            channels: self.channels.with_label_values(&[tenant]),
            split_hidden_users: self.split_hidden_users.with_label_values(&[tenant]),
            messages_in: self.messages_in.clone(),
            out_privmsg: self.messages_out.with_label_values(&[tenant, "privmsg"]),
            out_notice: self.messages_out.with_label_values(&[tenant, "notice"]),
            out_tagmsg: self.messages_out.with_label_values(&[tenant, "tagmsg"]),
            sendq_drops: self.sendq_drops.with_label_values(&[tenant]),
            flood_disconnects: self.flood_disconnects.with_label_values(&[tenant]),
            rejected_connections: self.rejected_connections.with_label_values(&[tenant]),
            fanout: self.fanout.with_label_values(&[tenant]),
        }
    }
}

/// One tenant's metric handles.
#[derive(Clone)]
pub struct TenantMetrics {
    tenant: String,
    /// Open client connections.
    pub connections: IntGauge,
    /// Accepted client connections.
    pub connections_total: IntCounter,
    /// Completed registrations.
    pub registrations_total: IntCounter,
    /// Users on the network.
    pub users: IntGauge,
    /// Channels on the network.
    pub channels: IntGauge,
    /// Users hidden from local clients because their node has been unreachable past the grace period.
    pub split_hidden_users: IntGauge,
    messages_in: IntCounterVec,
    /// PRIVMSG deliveries.
    pub out_privmsg: IntCounter,
    /// NOTICE deliveries.
    pub out_notice: IntCounter,
    /// TAGMSG deliveries.
    pub out_tagmsg: IntCounter,
    /// SendQ overflows.
    pub sendq_drops: IntCounter,
    /// Excess-flood disconnects.
    pub flood_disconnects: IntCounter,
    /// Connections refused by the per-IP limit.
    pub rejected_connections: IntCounter,
    /// Local recipients per channel message.
    pub fanout: prometheus::Histogram,
}

impl TenantMetrics {
    /// Count one received line; `command` must come from the server's fixed command table (or "unknown").
    pub fn message_in(&self, command: &'static str) {
        self.messages_in
            .with_label_values(&[self.tenant.as_str(), command])
            .inc();
    }
}
