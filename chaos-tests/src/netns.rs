//! Network-namespace mode: each node in its own network namespace with address 10.77.0.<id>, joined
//! by a veth pair to a bridge that has 10.77.0.254 on the host side (where the link proxies and the
//! IRC clients live). These namespaces, links and addresses are the harness's own test hosts: it
//! creates them at the start of a seed and deletes them at the end (also on panic, via Drop).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use crate::error::{Error, Result};

/// The host side of the bridge: proxies bind here, nodes reach their peers through it.
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 254);

/// The namespaces and bridge of one seed.
pub struct Netns {
    bridge: String,
    namespaces: Vec<String>,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::io("run `ip`", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Subcommand {
            command: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Whether 10.77.0.254 is already configured (another harness run, or a crashed one's leftovers).
fn host_ip_taken() -> bool {
    Command::new("ip")
        .args(["-o", "addr", "show", "to", &format!("{HOST_IP}/32")])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(true)
}

impl Netns {
    /// Node `id`'s address inside its namespace.
    pub fn node_ip(id: u16) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, id as u8))
    }

    /// Creates the bridge and one namespace per node. Fails (and leaves nothing behind) when not
    /// root, when `ip` is missing or refuses, or when 10.77.0.254 is already in use.
    pub fn create(nodes: u16) -> Result<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Error::Usage("network namespaces need root".into()));
        }
        if host_ip_taken() {
            return Err(Error::Usage(format!(
                "{HOST_IP} is already configured (another chaos run, or leftovers: `ip netns list`)"
            )));
        }
        let tag = std::process::id() % 10_000_000;
        let mut net = Netns {
            bridge: format!("lcb{tag}"),
            namespaces: Vec::new(),
        };
        ip(&["link", "add", &net.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", &net.bridge])?;
        ip(&["link", "set", &net.bridge, "up"])?;
        for id in 1..=nodes {
            let ns = format!("lchaos-{tag}-{id}");
            ip(&["netns", "add", &ns])?;
            net.namespaces.push(ns.clone());
            let host_end = format!("lc{tag}h{id}");
            let node_end = format!("lc{tag}n{id}");
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &node_end,
            ])?;
            ip(&["link", "set", &node_end, "netns", &ns])?;
            ip(&["link", "set", &host_end, "master", &net.bridge])?;
            ip(&["link", "set", &host_end, "up"])?;
            let inside = |args: &[&str]| {
                let mut full = vec!["netns", "exec", &ns, "ip"];
                full.extend_from_slice(args);
                ip(&full)
            };
            inside(&["link", "set", "lo", "up"])?;
            inside(&[
                "addr",
                "add",
                &format!("{}/24", Netns::node_ip(id)),
                "dev",
                &node_end,
            ])?;
            inside(&["link", "set", &node_end, "up"])?;
        }
        Ok(net)
    }

    /// The namespace of node `id`.
    pub fn namespace(&self, id: u16) -> &str {
        &self.namespaces[usize::from(id - 1)]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
