//! IRC command handlers: small free functions, one module per area, dispatched by name.
//!
//! Each handler gets a [`Ctx`]: the tenant's locked core, the connection's own state and the
//! outbox its replies go to. Handlers validate, then change state only through `Core::commit`.

mod channel;
mod history;
mod info;
mod message;
mod mode;
mod oper;
mod query;
mod registration;
mod user;

use latticed_config::TenantConfig;
use latticed_proto::{numeric, Message};

use crate::caps::Caps;
use crate::connection::ConnState;
use crate::tenant::{Core, Outbox, Tenant};

/// Everything a handler works with.
pub struct Ctx<'a> {
    /// The tenant runtime (config, node facts, metrics).
    pub tenant: &'a Tenant,
    /// The tenant's configuration, fixed for the duration of the command.
    pub config: &'a TenantConfig,
    /// The tenant's locked state and routing.
    pub core: &'a mut Core,
    /// This connection's state.
    pub conn: &'a mut ConnState,
    /// Replies to this connection.
    pub outbox: &'a mut Outbox,
}

impl Ctx<'_> {
    /// The server name clients of this tenant see.
    pub fn server(&self) -> &str {
        &self.tenant.node.server_name
    }

    /// The nick to address replies to: the current nick, or `*` before one is set.
    pub fn nick(&self) -> String {
        match self.conn.uid.and_then(|u| self.core.state.user(u)) {
            Some(user) => user.nick.to_string(),
            None => self.conn.pending_nick().unwrap_or("*").to_owned(),
        }
    }

    /// Queue a line for this connection.
    pub fn send(&mut self, msg: Message) {
        self.outbox.lines.push(msg.to_bytes());
    }

    /// Send a numeric reply: `:server CODE nick params...`.
    pub fn numeric<I, S>(&mut self, code: &str, params: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut msg = Message::new(code)
            .with_source(self.server().to_owned())
            .with_param(self.nick());
        for p in params {
            msg = msg.with_param(p);
        }
        self.send(msg);
    }

    /// A standard reply (`FAIL`, `WARN`, `NOTE`): `FAIL <command> <code> [context...] :<description>`.
    pub fn standard_reply(
        &mut self,
        kind: &str,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        let mut msg = Message::new(kind)
            .with_source(self.server().to_owned())
            .with_param(command)
            .with_param(code);
        for c in context {
            msg = msg.with_param(*c);
        }
        self.send(msg.with_param(text));
    }

    /// ERR_NEEDMOREPARAMS for `command`.
    pub fn need_more_params(&mut self, command: &str) {
        self.numeric(
            numeric::ERR_NEEDMOREPARAMS,
            [command, "Not enough parameters"],
        );
    }

    /// Whether this connection negotiated `cap`.
    pub fn has_cap(&self, cap: Caps) -> bool {
        self.conn.caps.has(cap)
    }

    /// The tenant's casemapping fold of `s`.
    pub fn fold(&self, s: &str) -> String {
        self.core.casemapping().fold(s)
    }
}

/// Commands a connection may use before it has registered.
const PRE_REGISTRATION: &[&str] = &["CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT"];

/// The name used for metrics: the command if the server knows it, else "unknown". Keeps label
/// cardinality fixed whatever a client sends.
pub fn metric_name(command: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(name, _)| *name == command)
        .map(|(name, _)| *name)
        .unwrap_or("unknown")
}

type Handler = fn(&mut Ctx<'_>, &Message);

const COMMANDS: &[(&str, Handler)] = &[
    ("ADMIN", info::admin),
    ("AWAY", user::away),
    ("CAP", registration::cap),
    ("CHATHISTORY", history::chathistory),
    ("INFO", info::info),
    ("INVITE", channel::invite),
    ("ISON", query::ison),
    ("JOIN", channel::join),
    ("KICK", channel::kick),
    ("KILL", oper::kill),
    ("LINKS", info::links),
    ("LIST", channel::list),
    ("LUSERS", query::lusers),
    ("MODE", mode::mode),
    ("MONITOR", user::monitor),
    ("MOTD", info::motd),
    ("NAMES", channel::names),
    ("NICK", registration::nick),
    ("NOTICE", message::notice),
    ("OPER", oper::oper),
    ("PART", channel::part),
    ("PASS", registration::pass),
    ("PING", registration::ping),
    ("PONG", registration::pong),
    ("PRIVMSG", message::privmsg),
    ("QUIT", registration::quit),
    ("REHASH", oper::rehash),
    ("SETNAME", user::setname),
    ("TAGMSG", message::tagmsg),
    ("TIME", info::time),
    ("TOPIC", channel::topic),
    ("USER", registration::user),
    ("USERHOST", query::userhost),
    ("VERSION", info::version),
    ("WALLOPS", oper::wallops),
    ("WHO", query::who),
    ("WHOIS", query::whois),
    ("WHOWAS", query::whowas),
];

/// Run the handler for `msg`, answering unknown commands and commands used before registration.
pub fn dispatch(ctx: &mut Ctx<'_>, msg: &Message) {
    let Some((name, handler)) = COMMANDS.iter().find(|(name, _)| *name == msg.command) else {
        if ctx.conn.uid.is_some() {
            ctx.numeric(
                numeric::ERR_UNKNOWNCOMMAND,
                [msg.command.as_str(), "Unknown command"],
            );
        } else {
            ctx.numeric(numeric::ERR_NOTREGISTERED, ["You have not registered"]);
        }
        return;
    };
    if ctx.conn.uid.is_none() && !PRE_REGISTRATION.contains(name) {
        ctx.numeric(numeric::ERR_NOTREGISTERED, ["You have not registered"]);
        return;
    }
    handler(ctx, msg);
}
