//! `add`: more nodes into a running lab, joined to the cluster the way an operator joins them
//! (a token from node1's `pigeonctl`, join answers, `pigeonair-install` on the new node), or
//! left as fresh boxes (`--bare`) to join by hand or from the TUI.

use super::*;
use crate::up::join_answers;

impl Lab {
    /// Boots `count` more nodes (node N+1 …) into the running lab and, unless `bare`, joins
    /// them through `via` (node1 unless given: the member whose `pigeonctl node token` makes
    /// the tokens, so they name it, and whose answers the new names follow). With `via`, other
    /// nodes may be down (killed): a cluster grows through its surviving provider. On failure
    /// the new nodes stay (`down` removes them with the rest).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        count: u32,
        bare: bool,
        via: Option<&str>,
        boot_timeout: Duration,
        cancel: &Cancel,
        out: &mut dyn Write,
    ) -> Result<Status, LabError> {
        host::require_root("pigeonair-lab add")?;
        host::require_tools(LAB_TOOLS)?;
        let _lock = self.lock()?;
        let mut state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        if via.is_none() {
            self.require_whole(&state)?;
        }
        let before = state.node_count;
        let plan = LabPlan::new(self.name.clone(), before + count)?;
        let new = &plan.nodes[before as usize..];
        // The member's saved answers, when it is installed: the new nodes' names follow its own.
        let node1 = via.map_or_else(|| plan.nodes[0].name.to_string(), str::to_owned);
        let first = if bare {
            None
        } else {
            let leader = self
                .leader_in(&state, &node1)
                .ok_or_else(|| LabError::NodeDown {
                    lab: self.name.clone(),
                    node: node1.clone(),
                })?;
            let mut cat = node::nsenter(leader);
            cat.args(["cat", "/etc/pigeonair/answers.toml"]);
            Some(host::run(&mut cat).map_err(|_| LabError::Install {
                status: "not installed".into(),
                output: format!(
                    "{node1} is not installed: install it first, or add the nodes with --bare"
                ),
            })?)
        };
        let t = Instant::now();
        for node in new {
            cancel.check()?;
            for cmd in plan.node_commands(node) {
                net::ip(&cmd)?;
            }
        }
        self.boot(&plan, new, &mut state, boot_timeout, cancel, out)?;
        state.node_count = before + count;
        state
            .save(&self.dirs, &self.name)
            .map_err(io_err(&self.dirs.state_file(&self.name)))?;
        if let Some(first) = first {
            for node in new {
                cancel.check()?;
                let token = self.token(&state, &node1)?;
                let join = join_answers(&first, node, node.name.index() as usize, &token);
                self.install(&state, &node.name.to_string(), &join, out)?;
            }
        }
        let _ = writeln!(
            out,
            "lab {}: {count} node(s) added in {:.1} s",
            self.name,
            t.elapsed().as_secs_f64()
        );
        Ok(self.status_of(&state))
    }
}
