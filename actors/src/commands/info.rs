//! Server information: MOTD, VERSION, TIME, INFO, ADMIN.

use latticed_proto::{numeric, Message};

use super::Ctx;

/// `MOTD`.
pub fn motd(ctx: &mut Ctx<'_>, _msg: &Message) {
    send_motd(ctx);
}

/// The MOTD replies, also part of the welcome burst.
pub fn send_motd(ctx: &mut Ctx<'_>) {
    if ctx.config.motd.is_empty() {
        ctx.numeric(numeric::ERR_NOMOTD, ["MOTD File is missing"]);
        return;
    }
    let server = ctx.server().to_owned();
    ctx.numeric(
        numeric::RPL_MOTDSTART,
        [format!("- {server} Message of the day - ")],
    );
    let lines = ctx.config.motd.clone();
    for line in lines {
        ctx.numeric(numeric::RPL_MOTD, [format!("- {line}")]);
    }
    ctx.numeric(numeric::RPL_ENDOFMOTD, ["End of /MOTD command."]);
}

/// `VERSION`.
pub fn version(ctx: &mut Ctx<'_>, _msg: &Message) {
    let node = ctx.tenant.node.clone();
    ctx.numeric(
        numeric::RPL_VERSION,
        [
            node.version,
            node.server_name,
            "latticed distributed IRC server".into(),
        ],
    );
    let tokens = crate::isupport::tokens(ctx.config, ctx.core.casemapping().name());
    for line in crate::isupport::lines(&tokens) {
        let mut params: Vec<String> = line.to_vec();
        params.push("are supported by this server".to_owned());
        ctx.numeric(numeric::RPL_ISUPPORT, params);
    }
}

/// `TIME`.
pub fn time(ctx: &mut Ctx<'_>, _msg: &Message) {
    let now = crate::time::unix_now_ms();
    let server = ctx.server().to_owned();
    ctx.numeric(
        numeric::RPL_TIME,
        [
            server,
            (now / 1000).to_string(),
            "0".into(),
            crate::time::iso8601(now),
        ],
    );
}

/// `INFO`.
pub fn info(ctx: &mut Ctx<'_>, _msg: &Message) {
    let node = ctx.tenant.node.clone();
    let lines = [
        format!("latticed {}", node.version),
        "A distributed IRC server: nodes link over QUIC and merge state with CRDTs.".to_owned(),
        format!("This node: {} (id {})", node.server_name, node.id.0),
        format!("Running since {}", node.started),
    ];
    for line in lines {
        ctx.numeric(numeric::RPL_INFO, [line]);
    }
    ctx.numeric(numeric::RPL_ENDOFINFO, ["End of /INFO list"]);
}

/// `LINKS`: this node only, until nodes link into a cluster.
pub fn links(ctx: &mut Ctx<'_>, _msg: &Message) {
    let server = ctx.server().to_owned();
    let description = ctx.tenant.node.description.clone();
    ctx.numeric(
        numeric::RPL_LINKS,
        [server.clone(), server, format!("0 {description}")],
    );
    ctx.numeric(numeric::RPL_ENDOFLINKS, ["*", "End of /LINKS list"]);
}

/// `ADMIN`.
pub fn admin(ctx: &mut Ctx<'_>, _msg: &Message) {
    let server = ctx.server().to_owned();
    let info = ctx.config.admin_info.clone();
    ctx.numeric(numeric::RPL_ADMINME, [server, "Administrative info".into()]);
    ctx.numeric(numeric::RPL_ADMINLOC1, [info.location1]);
    ctx.numeric(numeric::RPL_ADMINLOC2, [info.location2]);
    ctx.numeric(numeric::RPL_ADMINEMAIL, [info.email]);
}
