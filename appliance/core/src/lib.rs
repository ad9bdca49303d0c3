//! PigeonAir's appliance core, with no IO: the answers file and the validated [`plan::Plan`] it
//! becomes, the directory (LDAP) design, and the renderers that turn a plan into the files of
//! slapd, Postfix, Dovecot and the node's network. The installer's shells (apply to disk, LDAP,
//! systemd) live in `installer/`; the LDAP client they and pigeonctl use, in
//! `appliance/directory/`.
#![forbid(unsafe_code)]

pub mod address;
pub mod answers;
pub mod balancer_config;
pub mod balancer_status;
pub mod cluster;
pub mod crypt;
pub mod directory;
pub mod disk;
pub mod plan;
pub mod providers;
pub mod render;
pub mod ssh;
pub mod types;

pub use answers::{AnswersError, parse_answers};
pub use plan::Plan;
