//! Rules for sockets and files: no two binds that would collide, and TLS files that are really there.

use std::net::SocketAddr;
use std::path::Path;

/// Every address bound so far, with the key that bound it, so a clash can name both sides.
#[derive(Default)]
pub(super) struct BoundAddresses {
    bound: Vec<(String, SocketAddr)>,
}

impl BoundAddresses {
    /// Records `addr` (configured at `key`), or explains which earlier bind it collides with.
    pub(super) fn claim(&mut self, key: String, addr: SocketAddr) -> Result<(), String> {
        if let Some((other_key, other)) =
            self.bound.iter().find(|(_, other)| overlaps(addr, *other))
        {
            return Err(if *other == addr {
                format!("{addr} is already used by {other_key}")
            } else {
                format!("{addr} overlaps {other} (used by {other_key}): both cannot be bound")
            });
        }
        self.bound.push((key, addr));
        Ok(())
    }
}

/// Whether binding both addresses would fail with "address in use".
///
/// Port 0 asks the OS for a free port, so it never collides. A wildcard address (`0.0.0.0`, `[::]`) takes
/// the port on every address of its family, and `[::]` also takes IPv4 on a default dual-stack host.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    a.ip() == b.ip() || covers(a, b) || covers(b, a)
}

/// Whether wildcard `wide` includes `narrow`'s address.
fn covers(wide: SocketAddr, narrow: SocketAddr) -> bool {
    wide.ip().is_unspecified() && (wide.is_ipv6() || narrow.is_ipv4())
}

/// Checks that a TLS file exists and is a regular file; `what` names it in the reason.
pub(super) fn tls_file(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("{what} {} is not a regular file", path.display())),
        Err(err) => Err(format!("cannot use {what} {}: {err}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn same_address_twice_is_a_clash() {
        let mut bound = BoundAddresses::default();
        assert_eq!(
            bound.claim("admin.listen".into(), addr("127.0.0.1:6680")),
            Ok(())
        );
        assert_eq!(
            bound.claim(
                "tenants[0].listeners[0].address".into(),
                addr("127.0.0.1:6680")
            ),
            Err("127.0.0.1:6680 is already used by admin.listen".to_owned())
        );
    }

    #[test]
    fn wildcards_cover_their_family_and_v6_covers_v4() {
        assert!(overlaps(addr("0.0.0.0:6667"), addr("127.0.0.1:6667")));
        assert!(overlaps(addr("127.0.0.1:6667"), addr("0.0.0.0:6667")));
        assert!(overlaps(addr("[::]:6667"), addr("10.0.0.1:6667")));
        assert!(overlaps(addr("[::]:6667"), addr("[::1]:6667")));
        assert!(!overlaps(addr("0.0.0.0:6667"), addr("[::1]:6667")));
        assert!(!overlaps(addr("127.0.0.1:6667"), addr("127.0.0.2:6667")));
        assert!(!overlaps(addr("0.0.0.0:6667"), addr("0.0.0.0:6668")));
    }

    #[test]
    fn port_zero_never_clashes() {
        let mut bound = BoundAddresses::default();
        assert_eq!(bound.claim("a".into(), addr("127.0.0.1:0")), Ok(()));
        assert_eq!(bound.claim("b".into(), addr("127.0.0.1:0")), Ok(()));
        assert_eq!(bound.claim("c".into(), addr("0.0.0.0:0")), Ok(()));
    }

    #[test]
    fn overlap_reason_names_both_sides() {
        let mut bound = BoundAddresses::default();
        assert_eq!(bound.claim("first".into(), addr("0.0.0.0:6697")), Ok(()));
        let reason = bound
            .claim("second".into(), addr("192.0.2.1:6697"))
            .expect_err("overlap");
        assert_eq!(
            reason,
            "192.0.2.1:6697 overlaps 0.0.0.0:6697 (used by first): both cannot be bound"
        );
    }

    #[test]
    fn tls_file_must_be_a_regular_file() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            tls_file(&manifest.join("Cargo.toml"), "TLS certificate"),
            Ok(())
        );
        let dir_reason = tls_file(manifest, "TLS key").expect_err("a directory");
        assert!(dir_reason.starts_with("TLS key "), "{dir_reason}");
        assert!(
            dir_reason.ends_with("is not a regular file"),
            "{dir_reason}"
        );
        let missing = manifest.join("no-such-cert.pem");
        let reason = tls_file(&missing, "TLS certificate").expect_err("missing");
        assert!(
            reason.starts_with(&format!(
                "cannot use TLS certificate {}: ",
                missing.display()
            )),
            "{reason}"
        );
    }
}
