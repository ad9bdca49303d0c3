//! The lab: N PigeonAir appliance nodes booted from the image with systemd-nspawn, each in its
//! own network namespace, on a public and a private bridge held by a hub namespace, plus a
//! client namespace on the public side. See `README.md` ("The lab").
//!
//! [`Lab::up`] records each thing in the lab's state before making it and, on any failure,
//! takes the lab down again; [`Lab::down`] finds what to remove by name (namespaces, cgroups,
//! processes carrying the lab's `--machine=` marker) as well as from the state, so it also
//! cleans up after an `up` that was killed.

pub mod cgroup;
pub mod names;
pub mod net;
pub mod node;
pub mod plan;
pub mod procs;
pub mod state;

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
pub const DEFAULT_ANSWERS: &str = include_str!("../../../appliance/core/examples/single-box.toml");

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

    /// Builds or refreshes the image, makes the network, boots the nodes and waits until each
    /// reports `running` or `degraded`. On any failure, everything made is removed again.
    pub fn up(&self, opts: &UpOptions, out: &mut dyn Write) -> Result<UpOutcome, LabError> {
        let plan = LabPlan::new(self.name.clone(), opts.nodes)?;
        host::require_root("pigeonair-lab up")?;
        host::require_tools(LAB_TOOLS)?;
        let _lock = self.lock()?;
        if let Some(state) = self.state()? {
            let status = self.status_of(&state);
            let down: Vec<&str> = status
                .nodes
                .iter()
                .filter(|n| n.leader_pid.is_none())
                .map(|n| n.name.as_str())
                .collect();
            if !down.is_empty() || (state.nodes.len() as u32) < state.node_count {
                return Err(LabError::PartlyUp {
                    lab: self.name.clone(),
                    down: if down.is_empty() {
                        "its up was interrupted".into()
                    } else {
                        down.join(", ")
                    },
                });
            }
            if state.node_count != opts.nodes {
                return Err(LabError::OtherSize {
                    lab: self.name.clone(),
                    have: state.node_count,
                    want: opts.nodes,
                });
            }
            return Ok(UpOutcome::AlreadyUp(status));
        }
        let leftovers = self.leftovers();
        if !leftovers.is_empty() {
            return Err(LabError::Leftovers {
                lab: self.name.clone(),
                what: leftovers.join(", "),
            });
        }
        let mirror = Mirror::from_host()?;
        let debs = Debs::scan(&opts.debs).map_err(io_err(&opts.debs))?;
        let prefix = format!("{INSTALLER_PACKAGE}_");
        if opts.answers.is_some() && !debs.files.iter().any(|(name, _)| name.starts_with(&prefix)) {
            return Err(LabError::NoInstaller(opts.debs.clone()));
        }
        let image = ensure_image(
            &ImageStore::from_env(),
            &ImageSpec::appliance(),
            &mirror,
            &debs,
            out,
        )?;
        opts.cancel.check()?;
        let mut state = LabState {
            node_count: opts.nodes,
            image,
            nodes: Vec::new(),
        };
        let started = Instant::now();
        match self.start(&plan, &mut state, opts, out) {
            Ok(status) => {
                let _ = writeln!(
                    out,
                    "lab {}: {} node(s) up in {:.1} s",
                    self.name,
                    opts.nodes,
                    started.elapsed().as_secs_f64()
                );
                Ok(UpOutcome::Started(status))
            }
            Err(e) => {
                let _ = writeln!(out, "lab {}: up failed, removing what it made", self.name);
                if let Err(teardown) = self.teardown(out) {
                    let _ = writeln!(out, "lab {}: {teardown}", self.name);
                }
                Err(e)
            }
        }
    }

    fn start(
        &self,
        plan: &LabPlan,
        state: &mut LabState,
        opts: &UpOptions,
        out: &mut dyn Write,
    ) -> Result<Status, LabError> {
        let (boot_timeout, cancel) = (opts.boot_timeout, &opts.cancel);
        let save = |state: &LabState| {
            state
                .save(&self.dirs, &self.name)
                .map_err(io_err(&self.dirs.state_file(&self.name)))
        };
        save(state)?;
        let t = Instant::now();
        for cmd in plan.network_commands() {
            cancel.check()?;
            net::ip(&cmd)?;
        }
        let _ = writeln!(
            out,
            "lab {}: network made in {:.2} s (public 203.0.113.0/24, private 10.42.0.0/24)",
            self.name,
            t.elapsed().as_secs_f64()
        );
        let mut children = Vec::new();
        for node in &plan.nodes {
            cancel.check()?;
            let dir = self.dirs.node(&self.name, node.name);
            let upper = dir.join("upper");
            seed_upper(&upper, plan, node).map_err(io_err(&upper))?;
            let args = node::nspawn_args(plan, node, &state.image, &upper);
            let cgroup = cgroup::lab_relative(self.name.as_str()).join(node.name.to_string());
            let child = node::launch(&cgroup, &args, &dir.join("console.log"))?;
            state.nodes.push(NodeState {
                name: node.name.to_string(),
                nspawn_pid: child.id(),
            });
            save(state)?;
            children.push(child);
        }
        let deadline = Instant::now() + boot_timeout;
        for (node, mut child) in plan.nodes.iter().zip(children) {
            let console = || {
                let log = self.dirs.node(&self.name, node.name).join("console.log");
                host::last_lines(
                    &node::strip_escapes(&String::from_utf8_lossy(
                        &std::fs::read(log).unwrap_or_default(),
                    )),
                    15,
                )
            };
            let boot_err = |reason: String| LabError::Boot {
                node: node.name.to_string(),
                reason,
                console: console(),
            };
            let leader = node::wait_for_leader(child.id(), deadline, &|| cancel.is_set());
            cancel.check()?;
            let Some(leader) = leader else {
                let reason = match child.try_wait() {
                    Ok(Some(status)) => format!("systemd-nspawn exited ({status})"),
                    _ => format!("its systemd did not start within {boot_timeout:?}"),
                };
                return Err(boot_err(reason));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let system = node::system_state(leader, Some(left), &|| cancel.is_set());
            cancel.check()?;
            let system = match system {
                Ok(s) => s,
                Err(HostError::TimedOut { .. }) => {
                    return Err(boot_err(format!(
                        "boot did not finish within {boot_timeout:?} (raise --boot-timeout)"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            if !system.is_up() {
                return Err(boot_err(format!("systemd reports {}", system.describe())));
            }
            let _ = writeln!(out, "{}: {}", node.name, system.describe());
        }
        if let (Some(answers), Some(node1)) = (&opts.answers, plan.nodes.first()) {
            cancel.check()?;
            self.install(state, &node1.name.to_string(), answers, out)?;
        }
        Ok(self.status_of(state))
    }

    /// Runs `pigeonair-install --answers -` in `node`, the answers on its standard input (a
    /// clear-text password never touches the node's disk), its output shown as it goes.
    fn install(
        &self,
        state: &LabState,
        node: &str,
        answers: &str,
        out: &mut dyn Write,
    ) -> Result<(), LabError> {
        use std::io::{BufRead, BufReader};
        let leader = self
            .leader_in(state, node)
            .ok_or_else(|| LabError::NodeDown {
                lab: self.name.clone(),
                node: node.to_owned(),
            })?;
        let mut cmd = node::nsenter(leader);
        cmd.args(["pigeonair-install", "--answers", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let spawn_err = |source| {
            LabError::Host(HostError::Spawn {
                cmd: "pigeonair-install".into(),
                source,
            })
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(answers.as_bytes()).map_err(spawn_err)?;
        }
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut e) = stderr {
                let _ = std::io::Read::read_to_string(&mut e, &mut text);
            }
            text
        });
        let mut output = String::new();
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{node}: {line}");
                output.push_str(&line);
                output.push('\n');
            }
        }
        let status = child.wait().map_err(spawn_err)?;
        output.push_str(&err_reader.join().unwrap_or_default());
        if status.success() {
            Ok(())
        } else {
            Err(LabError::Install {
                status: status.to_string(),
                output,
            })
        }
    }

    /// Installs the PigeonAir packages in `debs` into every running node (`dpkg -i`), and
    /// refreshes the image's packages layer for nodes booted later. The Debian base is reused.
    pub fn refresh(&self, debs_dir: &Path, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab refresh")?;
        let _lock = self.lock()?;
        let state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let debs = Debs::scan(debs_dir).map_err(io_err(debs_dir))?;
        if debs.files.is_empty() {
            return Err(LabError::NoInstaller(debs_dir.to_owned()));
        }
        ensure_image(
            &ImageStore::from_env(),
            &ImageSpec::appliance(),
            &Mirror::from_host()?,
            &debs,
            out,
        )?;
        for node in &state.nodes {
            let leader = self
                .leader_in(&state, &node.name)
                .ok_or_else(|| LabError::NodeDown {
                    lab: self.name.clone(),
                    node: node.name.clone(),
                })?;
            let mut names = Vec::new();
            for (name, _) in &debs.files {
                let path = debs_dir.join(name);
                let file = File::open(&path).map_err(io_err(&path))?;
                let target = format!("/var/cache/pigeonair-lab/{name}");
                host::run(
                    node::nsenter(leader)
                        .args([
                            "sh",
                            "-c",
                            "mkdir -p /var/cache/pigeonair-lab && cat > \"$0\"",
                        ])
                        .arg(&target)
                        .stdin(file),
                )?;
                names.push(target);
            }
            host::run(node::nsenter(leader).args(["dpkg", "-i"]).args(&names))?;
            host::run(node::nsenter(leader).args(["rm", "-rf", "/var/cache/pigeonair-lab"]))?;
            let _ = writeln!(out, "{}: installed {}", node.name, names.len());
        }
        Ok(())
    }

    /// Things named after this lab that exist now: namespaces, node processes, cgroups, files.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found: Vec<String> = net::lab_namespaces(&self.name)
            .into_iter()
            .map(|n| format!("namespace {n}"))
            .collect();
        for pid in self.nspawn_processes() {
            found.push(format!("process {pid}"));
        }
        let rel = cgroup::lab_relative(self.name.as_str());
        for root in cgroup::hierarchies() {
            if root.join(&rel).exists() {
                found.push(format!("cgroup {}", root.join(&rel).display()));
            }
        }
        for mount in mounts_under(&self.dirs.lab(&self.name)) {
            found.push(format!("mount {mount}"));
        }
        let dir = self.dirs.lab(&self.name);
        if dir.exists() {
            found.push(format!("directory {}", dir.display()));
        }
        found
    }

    /// The lab's systemd-nspawn processes, found by their `--machine=pal-LAB-nodeI` argument.
    fn nspawn_processes(&self) -> Vec<u32> {
        procs::find_by_arg(|arg| {
            node::machine_of(arg).is_some_and(|(lab, node)| {
                lab == self.name.as_str() && node.parse::<names::NodeName>().is_ok()
            })
        })
    }

    /// Stops every node and removes everything the lab made. Taking down a lab that is not up
    /// is not an error.
    pub fn down(&self, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab down")?;
        let _lock = self.lock()?;
        if self.state()?.is_none() && self.leftovers().is_empty() {
            let _ = writeln!(out, "lab {} is not up: nothing to remove", self.name);
            return Ok(());
        }
        self.teardown(out)?;
        let _ = writeln!(out, "lab {} is down", self.name);
        Ok(())
    }

    fn teardown(&self, out: &mut dyn Write) -> Result<(), LabError> {
        let started = Instant::now();
        let mut problems = Vec::new();
        let mut nspawns: Vec<u32> = self
            .state()
            .ok()
            .flatten()
            .map(|s| s.nodes.iter().map(|n| n.nspawn_pid).collect())
            .unwrap_or_default();
        // A recorded PID counts only if it is still our nspawn (PIDs are reused).
        let ours = self.nspawn_processes();
        nspawns.retain(|pid| ours.contains(pid));
        nspawns.extend(ours);
        nspawns.sort_unstable();
        nspawns.dedup();
        // SIGTERM to nspawn halts the node cleanly: nspawn passes it on to the node's systemd
        // as SIGRTMIN+3. A systemd that has just started has no handler yet, and PID 1 ignores
        // signals it does not handle, so the request is repeated every second.
        let mut last_term: Option<Instant> = None;
        let rel = cgroup::lab_relative(self.name.as_str());
        let halted = wait_until(Duration::from_secs(15), || {
            let running: Vec<u32> = nspawns
                .iter()
                .copied()
                .filter(|p| procs::alive(*p))
                .collect();
            if last_term.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                for pid in &running {
                    let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
                }
                last_term = Some(Instant::now());
            }
            running.is_empty()
        });
        if !halted {
            let _ = writeln!(
                out,
                "lab {}: nodes did not halt in 15 s; killing",
                self.name
            );
        }
        // Whatever is still in the lab's cgroups (a node that ignored SIGTERM) is killed.
        let stragglers = || {
            let mut p = cgroup::processes(&rel);
            p.extend(nspawns.iter().copied().filter(|p| procs::alive(*p)));
            p.retain(|p| procs::alive(*p));
            p
        };
        for pid in stragglers() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        if !wait_until(Duration::from_secs(5), || stragglers().is_empty()) {
            problems.push(format!("processes still running: {:?}", stragglers()));
        }
        if !nspawns.is_empty() {
            let _ = writeln!(
                out,
                "lab {}: {} node(s) stopped in {:.1} s",
                self.name,
                nspawns.len(),
                started.elapsed().as_secs_f64()
            );
        }
        if let Err(e) = cgroup::remove(&rel, Duration::from_secs(5)) {
            problems.push(format!("cgroup: {e}"));
        }
        for ns in net::lab_namespaces(&self.name) {
            if let Err(e) = net::delete(&ns) {
                problems.push(e.to_string());
            }
        }
        let dir = self.dirs.lab(&self.name);
        for mount in mounts_under(&dir) {
            if let Err(e) = host::run(Command::new("umount").args(["--lazy", &mount])) {
                problems.push(e.to_string());
            }
        }
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            problems.push(format!("{}: {e}", dir.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown {
                lab: self.name.clone(),
                problems: problems.join("; "),
            })
        }
    }

    /// The lab's nodes, addresses and system states.
    pub fn status(&self) -> Result<Status, LabError> {
        Ok(match self.state()? {
            Some(state) => self.status_of(&state),
            None => Status {
                lab: self.name.to_string(),
                up: false,
                image: None,
                client: None,
                nodes: Vec::new(),
            },
        })
    }

    fn status_of(&self, state: &LabState) -> Status {
        let plan = LabPlan::new(self.name.clone(), state.node_count).ok();
        let nodes =
            plan.as_ref()
                .map(|plan| {
                    plan.nodes
                        .iter()
                        .map(|n| {
                            let leader = self.leader_in(state, &n.name.to_string());
                            let system = match leader {
                                Some(pid) => node::system_state(pid, None, &|| false)
                                    .unwrap_or_else(|e| SystemState {
                                        state: format!("unknown ({e})"),
                                        failed: Vec::new(),
                                    }),
                                None => SystemState {
                                    state: "down".into(),
                                    failed: Vec::new(),
                                },
                            };
                            NodeStatus {
                                name: n.name.to_string(),
                                public: n.public,
                                private: n.private,
                                leader_pid: leader,
                                system,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
        Status {
            lab: self.name.to_string(),
            up: true,
            image: Some(state.image.id.clone()),
            client: plan.map(|p| p.client),
            nodes,
        }
    }

    fn leader_in(&self, state: &LabState, node: &str) -> Option<u32> {
        let recorded = state.nodes.iter().find(|n| n.name == node)?;
        let marker = format!("--machine=pal-{}-{node}", self.name);
        let is_ours =
            procs::cmdline(recorded.nspawn_pid).is_some_and(|args| args.contains(&marker));
        if is_ours && procs::alive(recorded.nspawn_pid) {
            node::leader(recorded.nspawn_pid)
        } else {
            None
        }
    }

    /// The command that runs `argv` inside `node`: its namespaces, mounts and root.
    pub fn exec_command(
        &self,
        node: &str,
        argv: &[std::ffi::OsString],
    ) -> Result<Command, LabError> {
        let state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let plan = LabPlan::new(self.name.clone(), state.node_count)?;
        let name = plan.node(node)?.name.to_string();
        let leader = self
            .leader_in(&state, &name)
            .ok_or_else(|| LabError::NodeDown {
                lab: self.name.clone(),
                node: name,
            })?;
        let mut cmd = node::nsenter(leader);
        cmd.args(argv);
        Ok(cmd)
    }

    /// The command that runs `argv` at the client address (the client's network namespace).
    pub fn client_command(&self, argv: &[std::ffi::OsString]) -> Result<Command, LabError> {
        let plan = match self.state()? {
            Some(state) => LabPlan::new(self.name.clone(), state.node_count)?,
            None => return Err(LabError::NotUp(self.name.clone())),
        };
        let ns = plan.client_netns();
        if !net::exists(&ns) {
            return Err(LabError::NotUp(self.name.clone()));
        }
        let mut cmd = Command::new(host::find_tool("nsenter").unwrap_or_else(|| "nsenter".into()));
        cmd.arg(format!("--net={}/{ns}", net::NETNS_DIR))
            .arg("--")
            .args(argv);
        Ok(cmd)
    }
}

/// Seeds a node's writable layer before it boots: its hosts file names it and its peers on
/// the private network (the installer rewrites it later).
fn seed_upper(upper: &Path, plan: &LabPlan, node: &plan::NodePlan) -> io::Result<()> {
    let etc = upper.join("etc");
    std::fs::create_dir_all(&etc)?;
    let mut hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        node.name
    );
    for peer in plan.nodes.iter().filter(|p| p.name != node.name) {
        hosts.push_str(&format!("{}\t{}\n", peer.private, peer.name));
    }
    std::fs::write(etc.join("hosts"), hosts)
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
