//! A balancer pair: two IPVS boxes share the VIP by VRRP. keepalived does VRRP and nothing
//! else (no `virtual_server`): it holds the VIP on `ipvs.interface` while it is master and
//! drops it otherwise, so the VIP has one owner and the ARP takeover (gratuitous ARP) is
//! keepalived's proven code. pigeonair-balancer keeps programming the IPVS table on both boxes,
//! so the backup's table is ready, and runs the kernel's sync daemons ([`crate::ipvs::sync`])
//! so it also has the connections.
//!
//! - [`keepalived_conf`]: `[ipvs.pair]` → keepalived.conf, pure;
//! - [`keepalived`]: the process (start, reload on change, restart if it dies, stop).

pub mod keepalived;
pub mod keepalived_conf;
