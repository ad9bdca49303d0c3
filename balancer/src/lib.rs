//! PigeonAir's balancer: spreads SMTP, IMAP and POP3 connections over the cluster's nodes,
//! either with Linux IPVS (programmed over generic netlink) or with an authoritative DNS server
//! that answers only with healthy nodes.
//!
//! Pure cores: [`config`] (the desired state), [`ipvs`] messages, [`reconcile`] (desired table
//! vs the kernel's), [`health`] (rise/fall state) and [`dns`] answers and zone text. The shells:
//! [`ipvs::socket`] (netlink IO), [`probe`] (the checks' TCP/TLS dialogues) and [`daemon`].
//! A balancer pair's keepalived config is [`pair::keepalived_conf`] (pure) run by
//! [`pair::keepalived`].
#![forbid(unsafe_code)]

/// The balancer's file, `/etc/pigeonair/balancer.toml`: the contract, kept beside the plan in
/// `pigeonair-appliance` so its types (forwarding, problems) exist once.
pub use pigeonair_appliance::balancer_config as config;
pub mod daemon;
pub mod desired;
pub mod dns;
pub mod health;
pub mod ipvs;
pub mod pair;
pub mod probe;
pub mod reconcile;
pub mod status;
pub mod vip;
