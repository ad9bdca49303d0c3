//! `status`, `exec` and `client`: the running lab as seen from outside.

use super::*;

impl Lab {
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

    pub(super) fn status_of(&self, state: &LabState) -> Status {
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

    pub(super) fn leader_in(&self, state: &LabState, node: &str) -> Option<u32> {
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
