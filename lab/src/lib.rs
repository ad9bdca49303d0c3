//! The lab: N PigeonAir appliance nodes booted from the image with systemd-nspawn, each in its
//! own network namespace, on a public and a private bridge held by a hub namespace, plus a
//! client namespace on the public side. See `README.md` ("The lab").
//!
//! [`Lab::up`] records each thing in the lab's state before making it and, on any failure,
//! takes the lab down again; [`Lab::down`] finds what to remove by name (namespaces, cgroups,
//! processes carrying the lab's `--machine=` marker) as well as from the state, so it also
//! cleans up after an `up` that was killed.
//!
//! [`vm`] is the lab's other half: a throwaway VM booting the image's Debian kernel under qemu,
//! for what this machine's kernel lacks (IPVS, NFS).
//!
//! This is a tool for people as much as for tests: the `pigeonair-lab` and `pigeonair-vm`
//! binaries are thin shells over this library, and the end-to-end tests (crate
//! `pigeonair-tests`) drive those binaries.
#![forbid(unsafe_code)]

mod add;
pub mod cgroup;
mod down;
pub mod medium;
pub mod names;
pub mod net;
pub mod node;
pub mod plan;
mod power;
pub mod procs;
mod refresh;
mod remove;
pub mod state;
mod status;
mod up;
pub mod vm;

use std::fs::File;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pigeonair_host::{self as host, HostError};
use pigeonair_image::mirror::MirrorError;
use pigeonair_image::{BuildError, Debs, ImageSpec, ImageStore, Mirror, ensure_image};
use serde::Serialize;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use names::{LabName, NameError};
use node::SystemState;
use plan::{LabPlan, PlanError};
use state::{LabDirs, LabState, NodeState};

/// Host tools the lab needs, with the Debian package of each.
pub const LAB_TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("ip", "iproute2"),
    ("nsenter", "util-linux"),
    ("debootstrap", "debootstrap"),
];

/// A lab operation failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A bad lab or node name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The lab cannot be planned as asked.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A host tool is missing or failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The image could not be built.
    #[error(transparent)]
    Image(#[from] BuildError),
    /// No Debian mirror to build the image from.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// A lab file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The lab is not up.
    #[error("lab {0} is not up: start it with `pigeonair-lab up --name {0}`")]
    NotUp(LabName),
    /// The lab is up with another size.
    #[error(
        "lab {lab} is already up with {have} node(s), not {want}: nothing changed; \
         run `pigeonair-lab down --name {lab}` first to change its size"
    )]
    OtherSize {
        /// The lab.
        lab: LabName,
        /// Its node count.
        have: u32,
        /// The count asked for.
        want: u32,
    },
    /// Some of the lab's nodes have stopped.
    #[error(
        "lab {lab} is only partly up ({down} not running): run `pigeonair-lab down --name {lab}`, then `up` again"
    )]
    PartlyUp {
        /// The lab.
        lab: LabName,
        /// The nodes not running.
        down: String,
    },
    /// Things of this lab exist with no state recording them.
    #[error(
        "lab {lab} has leftovers of an earlier run ({what}): nothing changed; \
         run `pigeonair-lab down --name {lab}` to remove them"
    )]
    Leftovers {
        /// The lab.
        lab: LabName,
        /// What was found.
        what: String,
    },
    /// A node did not boot; the lab was taken down again.
    #[error("{node} did not boot: {reason}; the lab was taken down again{}", console_tail(.console))]
    Boot {
        /// The node.
        node: String,
        /// Why.
        reason: String,
        /// The end of its console output.
        console: String,
    },
    /// The node asked for is not running.
    #[error("{node} of lab {lab} is not running: run `pigeonair-lab status --name {lab}`")]
    NodeDown {
        /// The lab.
        lab: LabName,
        /// The node.
        node: String,
    },
    /// The node asked to start is running already.
    #[error(
        "{node} of lab {lab} is running already: `pigeonair-lab kill {node}` cuts its power first"
    )]
    NodeUp {
        /// The lab.
        lab: LabName,
        /// The node.
        node: String,
    },
    /// `up` was asked to install but the installer's package was not built.
    #[error(
        "no {INSTALLER_PACKAGE}_*.deb in {0}: build it with `cargo deb -p pigeonair-installer` \
         (or pass --bare for nodes without PigeonAir installed)"
    )]
    NoInstaller(PathBuf),
    /// The install in node1 failed; the lab was taken down again.
    #[error(
        "pigeonair-install failed in node1 ({status}); the lab was taken down again:\n{output}"
    )]
    Install {
        /// How it ended.
        status: String,
        /// What it printed.
        output: String,
    },
    /// `up` was interrupted; the lab was taken down again.
    #[error("interrupted: the lab was taken down again")]
    Interrupted,
    /// `down` could not remove everything.
    #[error("lab {lab} could not be removed completely: {problems}")]
    Teardown {
        /// The lab.
        lab: LabName,
        /// What is left and why.
        problems: String,
    },
}

fn console_tail(console: &str) -> String {
    if console.trim().is_empty() {
        String::new()
    } else {
        format!("; its console ended with:\n{console}")
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LabError + '_ {
    move |source| LabError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Set when the operator interrupts `up` (Ctrl-C, SIGTERM, SIGHUP): `up` stops waiting and
/// takes the lab down again instead of leaving it half made.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token set by SIGINT, SIGTERM and SIGHUP from now on (they no longer end the process).
    pub fn on_signals() -> io::Result<Cancel> {
        let cancel = Cancel::default();
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&cancel.0))?;
        }
        Ok(cancel)
    }

    /// Whether `up` was interrupted.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), LabError> {
        if self.is_set() {
            Err(LabError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// What `up` is asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Number of nodes.
    pub nodes: u32,
    /// PigeonAir `.deb` files to install into the image.
    pub debs: PathBuf,
    /// How long each node may take to finish booting.
    pub boot_timeout: Duration,
    /// Set when the operator interrupts `up`.
    pub cancel: Cancel,
    /// An answers file to install node1 with (`pigeonair-install --answers -`), or none for
    /// bare nodes.
    pub answers: Option<String>,
}

/// The answers file `up` installs node1 with when none is given: the shipped example, whose
/// addresses are node1's.
pub const DEFAULT_ANSWERS: &str = include_str!("../../appliance/core/examples/single-box.toml");

/// The Debian package holding `pigeonair-install`.
pub const INSTALLER_PACKAGE: &str = "pigeonair";

/// What `up` did.
#[derive(Debug)]
pub enum UpOutcome {
    /// The lab was started.
    Started(Status),
    /// The lab was already up with this size; nothing changed.
    AlreadyUp(Status),
}

/// A lab's state as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The lab's name.
    pub lab: String,
    /// Whether the lab has a recorded state (was brought up and not taken down).
    pub up: bool,
    /// The image its nodes boot.
    pub image: Option<String>,
    /// The client's address on the public network.
    pub client: Option<Ipv4Addr>,
    /// The nodes.
    pub nodes: Vec<NodeStatus>,
}

/// One node as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// `nodeI`.
    pub name: String,
    /// Address on the public network (`eth0`).
    pub public: Ipv4Addr,
    /// Address on the private cluster network (`eth1`).
    pub private: Ipv4Addr,
    /// The node's systemd, as a host PID, when it runs.
    pub leader_pid: Option<u32>,
    /// How systemd in the node sees the system.
    pub system: SystemState,
}

impl Status {
    /// A table for people.
    pub fn render(&self) -> String {
        if !self.up {
            return format!("lab {} is down\n", self.lab);
        }
        let mut text = format!(
            "lab {}: image {}, client {}\n{:<8} {:<15} {:<15} {}\n",
            self.lab,
            self.image.as_deref().unwrap_or("?"),
            self.client.map(|c| c.to_string()).unwrap_or_default(),
            "NODE",
            "PUBLIC",
            "PRIVATE",
            "SYSTEM"
        );
        for n in &self.nodes {
            text.push_str(&format!(
                "{:<8} {:<15} {:<15} {}\n",
                n.name,
                n.public,
                n.private,
                n.system.describe()
            ));
        }
        text
    }
}

/// One lab, by name.
#[derive(Debug, Clone)]
pub struct Lab {
    dirs: LabDirs,
    name: LabName,
}

impl Lab {
    /// The lab called `name`, with its files under `dirs`.
    pub fn new(dirs: LabDirs, name: LabName) -> Self {
        Lab { dirs, name }
    }

    /// The lab's name.
    pub fn name(&self) -> &LabName {
        &self.name
    }

    fn lock(&self) -> Result<Flock<File>, LabError> {
        let root = self.dirs.root();
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let path = root.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_err(&path)(io::Error::from(errno)))
    }

    fn state(&self) -> Result<Option<LabState>, LabError> {
        LabState::load(&self.dirs, &self.name).map_err(io_err(&self.dirs.state_file(&self.name)))
    }
}

/// Mount points at or under `dir`, from this process's mount table.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
        .collect()
}

/// Polls `done` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
