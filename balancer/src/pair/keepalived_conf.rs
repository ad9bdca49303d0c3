//! keepalived.conf for a balancer pair, rendered from `[ipvs]` and `[ipvs.pair]`. Pure.
//!
//! Choices, each for the failover goal (first answered connection within 1 s of the master's
//! death) and for a return that costs nothing:
//! - VRRPv3 (`vrrp_version 3`): it counts adverts in centiseconds, so the interval can be
//!   100 ms; VRRPv2 cannot go below 1 s (a takeover of about 3.6 s).
//! - unicast to the peer with `check_unicast_src`: no multicast needed on the link, and only
//!   the peer's adverts are believed. VRRPv3 has no authentication; this is the check.
//! - both boxes start `BACKUP` with `nopreempt`: a box that comes back stays backup and takes
//!   nothing from the master, so its return causes no second outage (and the idle sessions the
//!   returning box has not yet been sent by the sync daemon are not cut).
//! - `max_auto_priority` with a 50 ms `min_auto_priority_delay`: keepalived raises its VRRP
//!   process to a real-time priority when it finds itself scheduled 50 ms late, so a box busy
//!   with other work does not miss the adverts that keep its peer from taking over.
//! - the VIP as a host address (/32, /128) on `ipvs.interface`, the way `vip.rs` adds it for a
//!   single balancer.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{IpvsSettings, PairSettings};

/// The VRRP instance's name, in keepalived's log lines.
pub const INSTANCE: &str = "pigeonair_vip";

/// `advert_int` in seconds as keepalived reads it: `0.1`, `1`, `1.05`.
pub fn advert_int(d: Duration) -> String {
    let ms = d.as_millis();
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return s.to_string();
    }
    let frac = format!("{frac:03}");
    format!("{s}.{}", frac.trim_end_matches('0'))
}

/// The whole file. `interface` is `ipvs.interface` (the parser requires it for a pair).
pub fn render(ipvs: &IpvsSettings, interface: &str, pair: &PairSettings) -> String {
    let prefix = if ipvs.vip.is_ipv4() { 32 } else { 128 };
    let mut t = String::from(
        "# Written by pigeonair-balancer from [ipvs.pair] of its balancer.toml, again on every\n\
         # change: edit that file, not this one. VRRP only: pigeonair-balancer programs the IPVS\n\
         # table and runs the kernel's sync daemons itself.\n",
    );
    t.push_str(
        "global_defs {\n    vrrp_version 3\n    max_auto_priority 10\n    min_auto_priority_delay 50000\n}\n\n",
    );
    let _ = writeln!(t, "vrrp_instance {INSTANCE} {{");
    let _ = writeln!(t, "    state BACKUP");
    let _ = writeln!(t, "    nopreempt");
    let _ = writeln!(t, "    interface {interface}");
    let _ = writeln!(t, "    virtual_router_id {}", pair.virtual_router_id);
    let _ = writeln!(t, "    priority {}", pair.priority);
    let _ = writeln!(t, "    advert_int {}", advert_int(pair.advert_interval));
    let _ = writeln!(t, "    unicast_peer {{\n        {}\n    }}", pair.peer);
    let _ = writeln!(t, "    check_unicast_src");
    let _ = writeln!(
        t,
        "    virtual_ipaddress {{\n        {}/{prefix} dev {interface}\n    }}",
        ipvs.vip
    );
    t.push_str("}\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Mode};

    fn golden(name: &str, toml: &str, expected: &str) {
        let c = Config::parse(toml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Mode::Ipvs(i) = &c.mode else {
            panic!("{name}: not ipvs")
        };
        let text = render(i, i.interface.as_deref().unwrap(), &i.pair.unwrap());
        assert_eq!(text, expected, "{name}: rendered\n{text}");
    }

    #[test]
    fn golden_pairs() {
        golden(
            "first-box",
            include_str!("golden/first-box.toml"),
            include_str!("golden/first-box.conf"),
        );
        golden(
            "ipv6-slow-adverts",
            include_str!("golden/ipv6-slow-adverts.toml"),
            include_str!("golden/ipv6-slow-adverts.conf"),
        );
    }

    /// The installed keepalived accepts what we render (`keepalived --config-test` checks
    /// keywords, ranges and that the interface exists and is not loopback, so the test renders
    /// for one of this machine's interfaces).
    #[test]
    fn keepalived_accepts_the_rendered_files() {
        if pigeonair_host::find_tool("keepalived").is_none() {
            if std::env::var_os("CI").is_some() {
                panic!("keepalived is missing: scripts/host-setup installs it");
            }
            eprintln!("SKIPPED keepalived_accepts_the_rendered_files: no keepalived");
            return;
        }
        let interface = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find(|n| n != "lo")
            .expect("a network interface other than lo");
        for toml in [
            include_str!("golden/first-box.toml"),
            include_str!("golden/ipv6-slow-adverts.toml"),
        ] {
            let c = Config::parse(toml).unwrap();
            let Mode::Ipvs(i) = &c.mode else { panic!() };
            let path = std::env::temp_dir().join(format!(
                "b-keepalived-{}-{}.conf",
                std::process::id(),
                i.pair.unwrap().virtual_router_id
            ));
            std::fs::write(&path, render(i, &interface, &i.pair.unwrap())).unwrap();
            let out = std::process::Command::new("keepalived")
                .arg("--config-test")
                .arg("-f")
                .arg(&path)
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&path);
            assert!(
                out.status.success(),
                "keepalived refuses the rendered file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn advert_int_is_keepalived_seconds() {
        let f = |ms| advert_int(Duration::from_millis(ms));
        assert_eq!(
            [f(100), f(10), f(1000), f(1050), f(40950)],
            ["0.1", "0.01", "1", "1.05", "40.95"]
        );
    }
}
