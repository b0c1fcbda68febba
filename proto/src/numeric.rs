//! Every numeric reply the server sends, by its conventional name.
//!
//! Names and numbers follow modern.ircdocs.horse and the IRCv3 specs (MONITOR, SASL).
//! Code writes `numeric::ERR_NICKNAMEINUSE`, never `"433"`, so a wrong number is fixed in
//! one place and [`ALL`] lets a test check them all.

/// Declares each numeric as a `pub const` and lists them all in [`ALL`].
macro_rules! numerics {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $code;)*

        /// Every numeric of this module as `(name, code)`, in ascending code order.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $name)),*];
    };
}

numerics! {
    /// First reply after registration: welcomes the client to the network.
    RPL_WELCOME = "001";
    /// Names the server the client is connected to and its version.
    RPL_YOURHOST = "002";
    /// Says when the server was built or started.
    RPL_CREATED = "003";
    /// Server name, version and the user and channel modes it supports.
    RPL_MYINFO = "004";
    /// Advertises server features and limits as `TOKEN=value` params.
    RPL_ISUPPORT = "005";
    /// The client's current user modes.
    RPL_UMODEIS = "221";
    /// LUSERS: how many users and servers are on the network.
    RPL_LUSERCLIENT = "251";
    /// LUSERS: how many operators are online.
    RPL_LUSEROP = "252";
    /// LUSERS: how many connections have not registered yet.
    RPL_LUSERUNKNOWN = "253";
    /// LUSERS: how many channels exist.
    RPL_LUSERCHANNELS = "254";
    /// LUSERS: how many clients and servers this server has.
    RPL_LUSERME = "255";
    /// ADMIN: start of the administrative info for a server.
    RPL_ADMINME = "256";
    /// ADMIN: where the server is (city, country).
    RPL_ADMINLOC1 = "257";
    /// ADMIN: more about the institution running the server.
    RPL_ADMINLOC2 = "258";
    /// ADMIN: how to contact the administrator.
    RPL_ADMINEMAIL = "259";
    /// A command was dropped because of load or rate limits; retry later.
    RPL_TRYAGAIN = "263";
    /// LUSERS: current and maximum users on this server.
    RPL_LOCALUSERS = "265";
    /// LUSERS: current and maximum users on the network.
    RPL_GLOBALUSERS = "266";
    /// WHOIS: the fingerprint of the client certificate of the user.
    RPL_WHOISCERTFP = "276";
    /// Dummy reply; never meant to be shown.
    RPL_NONE = "300";
    /// The target of a message or WHOIS is away, with the away message.
    RPL_AWAY = "301";
    /// USERHOST reply: `nick[*]=+|-user@host` entries.
    RPL_USERHOST = "302";
    /// ISON reply: which of the asked nicks are online.
    RPL_ISON = "303";
    /// The client is no longer marked away.
    RPL_UNAWAY = "305";
    /// The client is now marked away.
    RPL_NOWAWAY = "306";
    /// WHOIS: the user is identified to a registered nick.
    RPL_WHOISREGNICK = "307";
    /// WHOIS: nick, username, host and realname.
    RPL_WHOISUSER = "311";
    /// WHOIS: which server the user is on.
    RPL_WHOISSERVER = "312";
    /// WHOIS: the user is an IRC operator.
    RPL_WHOISOPERATOR = "313";
    /// WHOWAS: nick, username, host and realname of a past user.
    RPL_WHOWASUSER = "314";
    /// End of a WHO listing.
    RPL_ENDOFWHO = "315";
    /// WHOIS: idle seconds and sign-on time.
    RPL_WHOISIDLE = "317";
    /// End of a WHOIS reply.
    RPL_ENDOFWHOIS = "318";
    /// WHOIS: the channels the user is in, with prefixes.
    RPL_WHOISCHANNELS = "319";
    /// WHOIS: free-form extra information about the user.
    RPL_WHOISSPECIAL = "320";
    /// Start of a LIST reply.
    RPL_LISTSTART = "321";
    /// LIST: one channel, its visible member count and topic.
    RPL_LIST = "322";
    /// End of a LIST reply.
    RPL_LISTEND = "323";
    /// A channel's current modes and their params.
    RPL_CHANNELMODEIS = "324";
    /// When a channel was created (Unix time).
    RPL_CREATIONTIME = "329";
    /// WHOIS: the account the user is logged in to.
    RPL_WHOISACCOUNT = "330";
    /// The channel has no topic.
    RPL_NOTOPIC = "331";
    /// The channel's topic.
    RPL_TOPIC = "332";
    /// Who set the channel's topic and when.
    RPL_TOPICWHOTIME = "333";
    /// WHOIS: the user is a bot.
    RPL_WHOISBOT = "335";
    /// WHOIS: the user's real host or IP address.
    RPL_WHOISACTUALLY = "338";
    /// Confirms that an INVITE was sent.
    RPL_INVITING = "341";
    /// One entry of a channel's invite-exception (+I) list.
    RPL_INVITELIST = "346";
    /// End of a channel's invite-exception list.
    RPL_ENDOFINVITELIST = "347";
    /// One entry of a channel's ban-exception (+e) list.
    RPL_EXCEPTLIST = "348";
    /// End of a channel's ban-exception list.
    RPL_ENDOFEXCEPTLIST = "349";
    /// VERSION reply: the server software and version.
    RPL_VERSION = "351";
    /// WHO: one matching user.
    RPL_WHOREPLY = "352";
    /// NAMES: some members of a channel, with prefixes.
    RPL_NAMREPLY = "353";
    /// WHOX: one matching user, with the requested fields.
    RPL_WHOSPCRPL = "354";
    /// LINKS: one server of the network.
    RPL_LINKS = "364";
    /// LINKS: end of the list.
    RPL_ENDOFLINKS = "365";
    /// End of a NAMES reply.
    RPL_ENDOFNAMES = "366";
    /// One entry of a channel's ban (+b) list.
    RPL_BANLIST = "367";
    /// End of a channel's ban list.
    RPL_ENDOFBANLIST = "368";
    /// End of a WHOWAS reply.
    RPL_ENDOFWHOWAS = "369";
    /// INFO: one line of server information.
    RPL_INFO = "371";
    /// One line of the message of the day.
    RPL_MOTD = "372";
    /// End of an INFO reply.
    RPL_ENDOFINFO = "374";
    /// Start of the message of the day.
    RPL_MOTDSTART = "375";
    /// End of the message of the day.
    RPL_ENDOFMOTD = "376";
    /// WHOIS: the host the user connects from.
    RPL_WHOISHOST = "378";
    /// WHOIS: the user's modes.
    RPL_WHOISMODES = "379";
    /// OPER succeeded: the client is now an IRC operator.
    RPL_YOUREOPER = "381";
    /// REHASH: the server is reloading its configuration.
    RPL_REHASHING = "382";
    /// TIME reply: the server's local time.
    RPL_TIME = "391";
    /// A command failed for a reason no other numeric covers.
    ERR_UNKNOWNERROR = "400";
    /// No user has the given nick.
    ERR_NOSUCHNICK = "401";
    /// No server has the given name.
    ERR_NOSUCHSERVER = "402";
    /// No channel has the given name.
    ERR_NOSUCHCHANNEL = "403";
    /// The message cannot be delivered to the channel (+n, +m, ban).
    ERR_CANNOTSENDTOCHAN = "404";
    /// The client is in as many channels as it may be.
    ERR_TOOMANYCHANNELS = "405";
    /// WHOWAS knows nothing about the nick.
    ERR_WASNOSUCHNICK = "406";
    /// Too many targets were given, or the target was ambiguous.
    ERR_TOOMANYTARGETS = "407";
    /// PING or PONG without an origin param.
    ERR_NOORIGIN = "409";
    /// Unknown CAP subcommand.
    ERR_INVALIDCAPCMD = "410";
    /// PRIVMSG or NOTICE without a target.
    ERR_NORECIPIENT = "411";
    /// PRIVMSG or NOTICE without text.
    ERR_NOTEXTTOSEND = "412";
    /// The client's line exceeded a size limit.
    ERR_INPUTTOOLONG = "417";
    /// The command is not known.
    ERR_UNKNOWNCOMMAND = "421";
    /// There is no message of the day.
    ERR_NOMOTD = "422";
    /// NICK without a nickname.
    ERR_NONICKNAMEGIVEN = "431";
    /// The nickname is not valid.
    ERR_ERRONEUSNICKNAME = "432";
    /// The nickname is already taken.
    ERR_NICKNAMEINUSE = "433";
    /// The nickname collided with one on another server.
    ERR_NICKCOLLISION = "436";
    /// The target user is not in that channel.
    ERR_USERNOTINCHANNEL = "441";
    /// The client is not in that channel.
    ERR_NOTONCHANNEL = "442";
    /// The invited user is already in the channel.
    ERR_USERONCHANNEL = "443";
    /// The command needs a registered connection.
    ERR_NOTREGISTERED = "451";
    /// The command was given too few params.
    ERR_NEEDMOREPARAMS = "461";
    /// The connection is already registered.
    ERR_ALREADYREGISTERED = "462";
    /// The connection password is wrong or missing.
    ERR_PASSWDMISMATCH = "464";
    /// The client is banned from the server (K-line).
    ERR_YOUREBANNEDCREEP = "465";
    /// The channel's user limit (+l) is reached.
    ERR_CHANNELISFULL = "471";
    /// The mode character is not known.
    ERR_UNKNOWNMODE = "472";
    /// The channel is invite-only (+i) and the client is not invited.
    ERR_INVITEONLYCHAN = "473";
    /// The client is banned from the channel.
    ERR_BANNEDFROMCHAN = "474";
    /// The channel key (+k) is wrong or missing.
    ERR_BADCHANNELKEY = "475";
    /// The channel name is not valid.
    ERR_BADCHANMASK = "476";
    /// The channel's ban, exception or invite-exception list is full.
    ERR_BANLISTFULL = "478";
    /// The command needs IRC operator privileges.
    ERR_NOPRIVILEGES = "481";
    /// The command needs channel operator privileges.
    ERR_CHANOPRIVSNEEDED = "482";
    /// A server cannot be killed.
    ERR_CANTKILLSERVER = "483";
    /// No operator block matches the client's host.
    ERR_NOOPERHOST = "491";
    /// The user mode character is not known.
    ERR_UMODEUNKNOWNFLAG = "501";
    /// A client cannot view or change another user's modes.
    ERR_USERSDONTMATCH = "502";
    /// HELP has no entry for the subject.
    ERR_HELPNOTFOUND = "524";
    /// The channel key being set is not valid.
    ERR_INVALIDKEY = "525";
    /// STARTTLS accepted: the TLS handshake may begin.
    RPL_STARTTLS = "670";
    /// WHOIS: the user is connected over TLS.
    RPL_WHOISSECURE = "671";
    /// A mode param is not valid.
    ERR_INVALIDMODEPARAM = "696";
    /// The entry is already on the channel's list mode.
    ERR_LISTMODEALREADYSET = "697";
    /// The entry is not on the channel's list mode.
    ERR_LISTMODENOTSET = "698";
    /// HELP: the first line of a help entry.
    RPL_HELPSTART = "704";
    /// HELP: one line of a help entry.
    RPL_HELPTXT = "705";
    /// HELP: the last line of a help entry.
    RPL_ENDOFHELP = "706";
    /// The operator lacks the named privilege.
    ERR_NOPRIVS = "723";
    /// MONITOR: targets that are online.
    RPL_MONONLINE = "730";
    /// MONITOR: targets that are offline.
    RPL_MONOFFLINE = "731";
    /// MONITOR L: entries of the client's monitor list.
    RPL_MONLIST = "732";
    /// End of the monitor list.
    RPL_ENDOFMONLIST = "733";
    /// The monitor list is full.
    ERR_MONLISTFULL = "734";
    /// The client is now logged in to an account.
    RPL_LOGGEDIN = "900";
    /// The client is now logged out.
    RPL_LOGGEDOUT = "901";
    /// SASL failed because the account is locked or held.
    ERR_NICKLOCKED = "902";
    /// SASL authentication succeeded.
    RPL_SASLSUCCESS = "903";
    /// SASL authentication failed.
    ERR_SASLFAIL = "904";
    /// An AUTHENTICATE payload was longer than 400 bytes.
    ERR_SASLTOOLONG = "905";
    /// SASL authentication was aborted.
    ERR_SASLABORTED = "906";
    /// The client already authenticated with SASL.
    ERR_SASLALREADY = "907";
    /// The SASL mechanisms the server supports.
    RPL_SASLMECHS = "908";
}

/// The name of a numeric code, e.g. `"433"` → `"ERR_NICKNAMEINUSE"`, for logs and tests.
pub fn name(code: &str) -> Option<&'static str> {
    ALL.iter().find(|(_, c)| *c == code).map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_three_digits_and_ascending() {
        for (name, code) in ALL {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
                "{name} = {code}"
            );
            assert!(
                name.starts_with("RPL_") || name.starts_with("ERR_"),
                "{name}"
            );
        }
        assert!(
            ALL.windows(2).all(|w| w[0].1 < w[1].1),
            "codes ascend, none twice"
        );
    }

    #[test]
    fn names_are_unique() {
        let names: HashSet<_> = ALL.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn lookup_by_code() {
        assert_eq!(name("433"), Some("ERR_NICKNAMEINUSE"));
        assert_eq!(name(RPL_WELCOME), Some("RPL_WELCOME"));
        assert_eq!(name("999"), None);
    }

    #[test]
    fn spot_check_well_known_numbers() {
        assert_eq!(RPL_WELCOME, "001");
        assert_eq!(RPL_ISUPPORT, "005");
        assert_eq!(RPL_NAMREPLY, "353");
        assert_eq!(ERR_INPUTTOOLONG, "417");
        assert_eq!(ERR_NICKNAMEINUSE, "433");
        assert_eq!(RPL_WHOISBOT, "335");
        assert_eq!(ERR_NOPRIVS, "723");
        assert_eq!(RPL_SASLSUCCESS, "903");
    }
}
