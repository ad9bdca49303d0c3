//! `up`: image, network, nodes, boot, and the install of node1; undone on any failure.

use super::*;

impl Lab {
    /// Builds or refreshes the image, makes the network, boots the nodes and waits until each
    /// reports `running` or `degraded`. On any failure, everything made is removed again.
    pub fn up(&self, opts: &UpOptions, out: &mut dyn Write) -> Result<UpOutcome, LabError> {
        let plan = LabPlan::new(self.name.clone(), opts.nodes)?;
        host::require_root("pigeonair-lab up")?;
        host::require_tools(LAB_TOOLS)?;
        let _lock = self.lock()?;
        if let Some(state) = self.state()? {
            self.require_whole(&state)?;
            let status = self.status_of(&state);
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
        self.boot(plan, &plan.nodes, state, boot_timeout, cancel, out)?;
        if let (Some(answers), Some(node1)) = (&opts.answers, plan.nodes.first()) {
            cancel.check()?;
            self.install(state, &node1.name.to_string(), answers, out)?;
            // The other nodes join the way an operator joins them: a token from node1's
            // pigeonctl, and pigeonair-install with join answers on the new node.
            for (i, node) in plan.nodes.iter().enumerate().skip(1) {
                cancel.check()?;
                let token = self.token(state, &node1.name.to_string())?;
                let join = join_answers(answers, node, i + 1, &token);
                self.install(state, &node.name.to_string(), &join, out)?;
            }
        }
        Ok(self.status_of(state))
    }

    /// Seeds, launches and waits for `nodes` (of `plan`), recording each in `state`.
    pub(super) fn boot(
        &self,
        plan: &LabPlan,
        nodes: &[plan::NodePlan],
        state: &mut LabState,
        boot_timeout: Duration,
        cancel: &Cancel,
        out: &mut dyn Write,
    ) -> Result<(), LabError> {
        let save = |state: &LabState| {
            state
                .save(&self.dirs, &self.name)
                .map_err(io_err(&self.dirs.state_file(&self.name)))
        };
        let mut children = Vec::new();
        for node in nodes {
            cancel.check()?;
            let dir = self.dirs.node(&self.name, node.name);
            let upper = dir.join("upper");
            // A node started again after a power cut boots from the disk it had.
            let known = state
                .nodes
                .iter()
                .position(|n| n.name == node.name.to_string());
            if known.is_none() {
                seed_upper(&upper, plan, node).map_err(io_err(&upper))?;
            }
            let args = node::nspawn_args(plan, node, &state.image, &upper);
            let cgroup = cgroup::lab_relative(self.name.as_str()).join(node.name.to_string());
            let child = node::launch(&cgroup, &args, &dir.join("console.log"))?;
            let launched = NodeState {
                name: node.name.to_string(),
                nspawn_pid: child.id(),
            };
            match known {
                Some(i) => state.nodes[i] = launched,
                None => state.nodes.push(launched),
            }
            save(state)?;
            children.push(child);
        }
        let deadline = Instant::now() + boot_timeout;
        for (node, mut child) in nodes.iter().zip(children) {
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
        Ok(())
    }

    /// The leader PID of `node`, which must be running.
    pub(super) fn running_leader(&self, state: &LabState, node: &str) -> Result<u32, LabError> {
        self.leader_in(state, node)
            .ok_or_else(|| LabError::NodeDown {
                lab: self.name.clone(),
                node: node.to_owned(),
            })
    }

    /// Fails unless every node of `state` is running (an `up` that was interrupted, or a node
    /// that stopped, is reported by name).
    pub(super) fn require_whole(&self, state: &LabState) -> Result<(), LabError> {
        let status = self.status_of(state);
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
        Ok(())
    }

    /// A one-time join token made by `node`'s `pigeonctl node token`.
    pub(super) fn token(&self, state: &LabState, node: &str) -> Result<String, LabError> {
        let leader = self.running_leader(state, node)?;
        let mut cmd = node::nsenter(leader);
        cmd.args(["pigeonctl", "node", "token", "--ttl", "10m"]);
        let out = pigeonair_host::run(&mut cmd)?;
        Ok(out.trim().to_owned())
    }

    /// Runs `pigeonair-install --answers -` in `node`, the answers on its standard input (a
    /// clear-text password never touches the node's disk), its output shown as it goes.
    pub(super) fn install(
        &self,
        state: &LabState,
        node: &str,
        answers: &str,
        out: &mut dyn Write,
    ) -> Result<(), LabError> {
        use std::io::{BufRead, BufReader};
        let leader = self.running_leader(state, node)?;
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
}

/// The answers node `number` of the lab joins with: its own names and addresses, the token.
/// Its host name follows node1's (`mx1.example.com` → `mx3.example.com`), or is
/// `nodeI.DOMAIN` when node1's does not end its first label in 1.
pub fn join_answers(first: &str, node: &plan::NodePlan, number: usize, token: &str) -> String {
    let hostname = pigeonair_appliance::parse_answers(first)
        .ok()
        .map(|p| {
            let host = p.hostname.to_string();
            // mx1.example.com (or the answers of another member, mx2…) → mxN.example.com.
            match host.split_once('.') {
                Some((label, rest)) if label.ends_with(|c: char| c.is_ascii_digit()) => {
                    format!(
                        "{}{number}.{rest}",
                        label.trim_end_matches(|c: char| c.is_ascii_digit())
                    )
                }
                _ => format!("{}.{}", node.name, p.domain),
            }
        })
        .unwrap_or_else(|| format!("{}.example.com", node.name));
    format!(
        "# pigeonair-lab: {node} joins the cluster.\n[cluster]\njoin = \"{token}\"\n\n\
         [node]\nhostname = \"{hostname}\"\n\n[network]\ndns = []\n\n\
         [network.public]\ninterface = \"eth0\"\naddress = \"{public}/24\"\ngateway = \"{gateway}\"\n\n\
         [network.private]\ninterface = \"eth1\"\naddress = \"{private}/24\"\n",
        node = node.name,
        public = node.public,
        gateway = std::net::Ipv4Addr::from(u32::from(node.public) & 0xffff_ff00 | 1),
        private = node.private,
    )
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
