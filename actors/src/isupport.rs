//! The RPL_ISUPPORT (005) tokens a tenant advertises, derived from its configuration.

use latticed_config::TenantConfig;

use crate::modes::CHANNEL_FLAGS;

/// Longest list of ISUPPORT tokens in one 005 line.
const TOKENS_PER_LINE: usize = 13;

/// The tokens, in the order they are sent.
pub fn tokens(config: &TenantConfig, casemapping: &str) -> Vec<String> {
    let l = &config.limits;
    vec![
        format!("AWAYLEN={}", l.away_len),
        "BOT=B".to_owned(),
        format!("CASEMAPPING={casemapping}"),
        format!("CHANLIMIT=#:{}", l.max_channels_per_user),
        format!("CHATHISTORY={}", config.history.max_query),
        format!("CHANMODES=beI,k,l,{CHANNEL_FLAGS}"),
        format!("CHANNELLEN={}", l.channel_len),
        "CHANTYPES=#".to_owned(),
        "ELIST=U".to_owned(),
        "EXCEPTS".to_owned(),
        "INVEX".to_owned(),
        format!("KICKLEN={}", l.kick_len),
        format!("MAXLIST=beI:{}", l.max_list_entries),
        format!("MAXTARGETS={}", l.max_targets),
        "MODES=20".to_owned(),
        format!("MONITOR={}", l.max_monitor),
        "MSGREFTYPES=msgid,timestamp".to_owned(),
        format!("NETWORK={}", config.network),
        format!("NICKLEN={}", l.nick_len),
        "PREFIX=(ov)@+".to_owned(),
        "STATUSMSG=@+".to_owned(),
        format!(
            "TARGMAX=NAMES:1,LIST:1,KICK:1,WHOIS:1,USERHOST:5,PRIVMSG:{0},TAGMSG:{0},NOTICE:{0},MONITOR:{1}",
            l.max_targets, l.max_monitor
        ),
        format!("TOPICLEN={}", l.topic_len),
        format!("USERLEN={}", l.user_len),
        "UTF8ONLY".to_owned(),
        "WHOX".to_owned(),
    ]
    .into_iter()
    .filter(|t| t != "UTF8ONLY" || config.connection.utf8_only)
    .collect()
}

/// The tokens split into 005 lines.
pub fn lines(tokens: &[String]) -> impl Iterator<Item = &[String]> {
    tokens.chunks(TOKENS_PER_LINE)
}
