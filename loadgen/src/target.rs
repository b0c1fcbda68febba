//! Target addresses: parsed without name resolution and restricted to loopback, so the load
//! generator can never be pointed at another machine by mistake.

use std::net::SocketAddr;

use crate::error::Error;

/// Parse `IP:PORT` and refuse anything outside 127.0.0.0/8 and ::1.
pub fn parse_loopback(input: &str) -> Result<SocketAddr, Error> {
    let addr: SocketAddr = input.trim().parse().map_err(|err| Error::BadAddress {
        input: input.to_owned(),
        reason: format!("{err}"),
    })?;
    if !addr.ip().is_loopback() {
        return Err(Error::NotLoopback { addr });
    }
    if addr.port() == 0 {
        return Err(Error::BadAddress {
            input: input.to_owned(),
            reason: "port 0 cannot be connected to".to_owned(),
        });
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_v4_and_v6() {
        assert_eq!(
            parse_loopback("127.0.0.1:6667").unwrap(),
            "127.0.0.1:6667".parse().unwrap()
        );
        assert_eq!(parse_loopback("127.3.4.5:7000").unwrap().port(), 7000);
        assert!(parse_loopback("[::1]:6667").is_ok());
    }

    #[test]
    fn refuses_other_addresses() {
        for input in [
            "10.0.0.1:6667",
            "0.0.0.0:6667",
            "[::]:6667",
            "[::ffff:127.0.0.1]:6667",
        ] {
            assert!(
                matches!(parse_loopback(input), Err(Error::NotLoopback { .. })),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_names_and_garbage() {
        for input in [
            "localhost:6667",
            "127.0.0.1",
            "",
            "127.0.0.1:0",
            "127.0.0.1:99999",
        ] {
            assert!(
                matches!(parse_loopback(input), Err(Error::BadAddress { .. })),
                "{input}"
            );
        }
    }
}
