//! What staff type, field by field, and what the answers file's own validator says about it.
//! The TUI never validates on its own: every problem shown comes from
//! [`pigeonair_appliance::answers::validate`] (a new cluster's answers, a joined node's) or
//! [`crate::join::check`] (a joining node's), as for an answers file; on the install medium
//! `[disk]` by [`validate_disk`] against the disks probed, as for the unattended install.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use pigeonair_appliance::answers::{
    AnswersError, JoinAnswers, Problem, RawAdmin, RawAnswers, RawCluster, RawInterface, RawMail,
    RawNetwork, RawNode, RawSsh, raw_balancer, validate,
};
use pigeonair_appliance::disk::{BlockDevice, DiskPlan, RawDisk, validate_disk};
use pigeonair_appliance::plan::{AdminPassword, Balancer, Plan, Role};
use pigeonair_join::Token;

/// What the answers make of this box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The first node of a new cluster.
    Create,
    /// A node joining an existing cluster with a token.
    Join,
    /// A node that joined already (a reviewed answers file saved after its join).
    Joined,
}

/// An input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `network.public.interface`
    PublicInterface,
    /// `network.public.address`
    PublicAddress,
    /// `network.public.gateway`
    PublicGateway,
    /// `network.dns`
    Dns,
    /// `network.private.interface`
    PrivateInterface,
    /// `network.private.address`
    PrivateAddress,
    /// `node.hostname`
    Hostname,
    /// `mail.domain`
    Domain,
    /// `cluster.name`
    ClusterName,
    /// `admin.password`
    Password,
    /// The password again (checked against the first; the plan has it once).
    PasswordAgain,
    /// `cluster.join`
    Token,
    /// `disk.device`, chosen from the disks probed (not typed).
    DiskDevice,
    /// `disk.vmail_size` (empty: no separate `/var/vmail`).
    VmailSize,
    /// The erase confirmation: [`CONFIRM_WORD`] typed. Not an answers field.
    EraseConfirm,
    /// One of `ssh.authorized_keys` (optional: without a key SSH is off).
    SshKey,
}

pub use crate::disk::erase::CONFIRM_WORD;

impl Field {
    /// The label shown beside the field.
    pub fn label(self) -> &'static str {
        match self {
            Field::PublicInterface => "Public interface",
            Field::PublicAddress => "Public address/prefix",
            Field::PublicGateway => "Gateway (optional)",
            Field::Dns => "DNS resolvers",
            Field::PrivateInterface => "Cluster interface",
            Field::PrivateAddress => "Cluster address/prefix",
            Field::Hostname => "Host name (FQDN)",
            Field::Domain => "Primary mail domain",
            Field::ClusterName => "Cluster name",
            Field::Password => "Password",
            Field::PasswordAgain => "Password again",
            Field::Token => "Join token",
            Field::DiskDevice => "Target disk",
            Field::VmailSize => "Separate /var/vmail",
            Field::EraseConfirm => "Type Erase to confirm",
            Field::SshKey => "Root's SSH key",
        }
    }

    /// The answers-file field it fills (problems are matched to fields by this).
    pub fn path(self) -> &'static str {
        match self {
            Field::PublicInterface => "network.public.interface",
            Field::PublicAddress => "network.public.address",
            Field::PublicGateway => "network.public.gateway",
            Field::Dns => "network.dns",
            Field::PrivateInterface => "network.private.interface",
            Field::PrivateAddress => "network.private.address",
            Field::Hostname => "node.hostname",
            Field::Domain => "mail.domain",
            Field::ClusterName => "cluster.name",
            Field::Password | Field::PasswordAgain => "admin.password",
            Field::Token => "cluster.join",
            Field::DiskDevice => "disk.device",
            Field::VmailSize => "disk.vmail_size",
            Field::EraseConfirm => "erase",
            Field::SshKey => "ssh.authorized_keys",
        }
    }

    /// Whether its value is chosen from a list (Up and Down), not typed.
    pub fn chosen(self) -> bool {
        self == Field::DiskDevice
    }

    /// Whether what is typed is shown as `*`.
    pub fn masked(self) -> bool {
        matches!(self, Field::Password | Field::PasswordAgain)
    }
}

/// Everything typed so far. Going back never loses any of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    values: BTreeMap<Field, String>,
    /// The balancer of a reviewed plan, kept as it was: no screen edits it (`None`: the
    /// answers file's default, no balancer).
    balancer: Option<Balancer>,
    /// A joining node's answers (`[cluster] join`, `[node]`, `[network]`).
    joining: bool,
    /// The provider of a reviewed joined node, kept as it was (with its cluster name and
    /// domain): they came from the cluster.
    provider: Option<Ipv4Addr>,
    /// Root's SSH keys of reviewed answers, kept as they were: no screen edits them (an
    /// answers file gives them).
    ssh_keys: Vec<String>,
    /// On the install medium: this machine's disks (one is erased), and `[disk]` is asked.
    disks: Option<Vec<BlockDevice>>,
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl Form {
    /// The value of `field` ("" when nothing was typed).
    pub fn get(&self, field: Field) -> &str {
        self.values.get(&field).map(String::as_str).unwrap_or("")
    }

    /// Sets `field`.
    pub fn set(&mut self, field: Field, value: impl Into<String>) {
        self.values.insert(field, value.into());
    }

    /// What these answers make of the box.
    pub fn goal(&self) -> Goal {
        match (self.joining, self.provider) {
            (true, _) => Goal::Join,
            (false, Some(_)) => Goal::Joined,
            (false, None) => Goal::Create,
        }
    }

    /// Makes these a joining node's answers (`true`) or a new cluster's; what was typed stays.
    /// A reviewed joined node's stay what they are.
    pub fn set_joining(&mut self, joining: bool) {
        if self.provider.is_none() {
            self.joining = joining;
        }
    }

    /// Installs from the medium to one of `disks`: `[disk]` is asked and checked against them.
    /// The first disk that is neither the install medium nor in use is chosen, unless one is.
    pub fn set_disks(&mut self, disks: Vec<BlockDevice>) {
        if self.get(Field::DiskDevice).is_empty()
            && let Some(d) = disks
                .iter()
                .find(|d| !d.install_medium && d.mounted.is_empty())
                .or(disks.first())
        {
            self.set(Field::DiskDevice, d.path.clone());
        }
        self.disks = Some(disks);
    }

    /// The disks probed, on the install medium.
    pub fn disks(&self) -> Option<&[BlockDevice]> {
        self.disks.as_deref()
    }

    /// Fills `[disk]` from a reviewed answers file.
    pub fn set_raw_disk(&mut self, raw: &RawDisk) {
        self.set(Field::DiskDevice, raw.device.clone().unwrap_or_default());
        self.set(Field::VmailSize, raw.vmail_size.clone().unwrap_or_default());
    }

    /// The disk chosen, as probed.
    pub fn chosen_disk(&self) -> Option<&BlockDevice> {
        let device = self.get(Field::DiskDevice);
        self.disks()?.iter().find(|d| d.path == device)
    }

    /// Chooses the next (or previous) disk of the list; the erase must be confirmed again.
    pub fn choose_disk(&mut self, forward: bool) {
        let Some(disks) = self.disks() else {
            return;
        };
        let n = disks.len();
        if n == 0 {
            return;
        }
        let at = disks
            .iter()
            .position(|d| d.path == self.get(Field::DiskDevice));
        let next = match (at, forward) {
            (None, _) => 0,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        let path = disks[next].path.clone();
        self.set(Field::DiskDevice, path);
        self.set(Field::EraseConfirm, "");
    }

    /// `[disk]` as typed, on the install medium: a new cluster's first node is installed to
    /// a disk (a joining or joined node's answers have no `[disk]` here).
    pub fn raw_disk(&self) -> Option<RawDisk> {
        self.disks.as_ref()?;
        if self.goal() != Goal::Create {
            return None;
        }
        Some(RawDisk {
            device: some(self.get(Field::DiskDevice)),
            vmail_size: some(self.get(Field::VmailSize)),
            // The erase warning names what the disk holds (a PigeonAir installation's
            // partitions too) and only `Erase` typed there goes on: that is the consent the
            // unattended install asks of `disk.reinstall`.
            reinstall: Some(true),
        })
    }

    /// The disk's layout, when `[disk]` passes the validator (on the install medium).
    pub fn disk_plan(&self) -> Option<DiskPlan> {
        validate_disk(self.raw_disk().as_ref(), self.disks()?).ok()
    }

    /// A form filled from a joining node's answers (for `--answers FILE --review`).
    pub fn from_join(j: &JoinAnswers) -> Self {
        let mut f = Form {
            joining: true,
            ssh_keys: j.ssh_keys.iter().map(|k| k.to_string()).collect(),
            ..Form::default()
        };
        f.set_node(&j.hostname.to_string(), &j.public, &j.private, &j.dns);
        f.set(Field::Token, j.token.clone());
        f
    }

    fn set_node(
        &mut self,
        hostname: &str,
        public: &pigeonair_appliance::plan::PublicNetwork,
        private: &pigeonair_appliance::plan::PrivateNetwork,
        dns: &[Ipv4Addr],
    ) {
        self.set(Field::Hostname, hostname);
        self.set(Field::PublicInterface, public.interface.as_str());
        self.set(Field::PublicAddress, public.address.to_string());
        self.set(
            Field::PublicGateway,
            public.gateway.map(|g| g.to_string()).unwrap_or_default(),
        );
        self.set(
            Field::Dns,
            dns.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
        self.set(Field::PrivateInterface, private.interface.as_str());
        self.set(Field::PrivateAddress, private.address.to_string());
    }

    /// A form filled from a plan (for `--answers FILE --review`); a hashed password leaves
    /// the password fields empty: it is kept unless staff type a new one. A joined node's
    /// plan keeps its provider.
    pub fn from_plan(plan: &Plan) -> Self {
        let mut f = Form {
            balancer: Some(plan.balancer),
            provider: match plan.role {
                Role::Joined { provider } => Some(provider),
                Role::First { .. } => None,
            },
            ssh_keys: plan.ssh_keys.iter().map(|k| k.to_string()).collect(),
            ..Form::default()
        };
        f.set_node(
            plan.hostname.as_str(),
            &plan.public,
            &plan.private,
            &plan.dns,
        );
        f.set(Field::Domain, plan.domain.as_str());
        f.set(Field::ClusterName, plan.cluster.as_str());
        if let Some(AdminPassword::Clear(p)) = plan.admin_password() {
            f.set(Field::Password, p.clone());
            f.set(Field::PasswordAgain, p.clone());
        }
        f
    }

    /// The form as a raw answers file, for the validator: a joining node's holds only
    /// `[cluster] join`, `[node]` and `[network]`, a joined node's no `[admin]`.
    pub fn raw(&self, password_hash: Option<&str>) -> RawAnswers {
        let network = self.raw_network();
        let node = RawNode {
            hostname: some(self.get(Field::Hostname)),
        };
        if self.joining {
            return RawAnswers {
                cluster: RawCluster {
                    join: some(self.get(Field::Token)),
                    ..RawCluster::default()
                },
                node,
                network,
                ssh: self.raw_ssh(),
                ..RawAnswers::default()
            };
        }
        let password = some(self.get(Field::Password)).filter(|_| self.provider.is_none());
        let password_hash = password_hash.filter(|_| self.provider.is_none());
        let (balancer_kind, balancer) = self.balancer.as_ref().map(raw_balancer).unzip();
        RawAnswers {
            cluster: RawCluster {
                name: some(self.get(Field::ClusterName)),
                storage: None,
                balancer: balancer_kind,
                join: None,
                provider: self.provider.map(|p| p.to_string()),
                directory: None,
            },
            balancer: balancer.flatten(),
            mail: RawMail {
                domain: some(self.get(Field::Domain)),
            },
            node,
            network,
            admin: RawAdmin {
                password_hash: password
                    .is_none()
                    .then(|| password_hash.map(str::to_owned))
                    .flatten(),
                password,
            },
            disk: self.raw_disk(),
            ssh: self.raw_ssh(),
        }
    }

    /// `[ssh]`: the reviewed answers' keys, and the one typed (if any) after them.
    fn raw_ssh(&self) -> Option<RawSsh> {
        let mut keys = self.ssh_keys.clone();
        keys.extend(some(self.get(Field::SshKey)));
        (!keys.is_empty()).then_some(RawSsh {
            authorized_keys: Some(keys),
        })
    }

    /// How many SSH keys the reviewed answers gave root (kept; a typed one is added).
    pub fn reviewed_ssh_keys(&self) -> usize {
        self.ssh_keys.len()
    }

    fn raw_network(&self) -> RawNetwork {
        RawNetwork {
            dns: Some(
                self.get(Field::Dns)
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            public: RawInterface {
                interface: some(self.get(Field::PublicInterface)),
                address: some(self.get(Field::PublicAddress)),
                gateway: some(self.get(Field::PublicGateway)),
            },
            private: RawInterface {
                interface: some(self.get(Field::PrivateInterface)),
                address: some(self.get(Field::PrivateAddress)),
                gateway: None,
            },
        }
    }

    /// Every problem with the form: the validator's, plus the two passwords differing.
    pub fn problems(&self, password_hash: Option<&str>) -> Vec<Problem> {
        let raw = self.raw(password_hash);
        let checked = if self.joining {
            crate::join::check(&raw).map(drop)
        } else {
            validate(&raw).map(drop)
        };
        let mut problems = match checked {
            Ok(()) => Vec::new(),
            Err(AnswersError::Invalid(p)) => p,
            Err(AnswersError::Syntax(s)) => vec![Problem {
                field: String::new(),
                message: s,
            }],
        };
        if let (Some(disks), Some(raw)) = (self.disks(), self.raw_disk())
            && let Err(mut disk) = validate_disk(Some(&raw), disks)
        {
            problems.append(&mut disk);
        }
        if self.goal() == Goal::Create
            && self.get(Field::Password) != self.get(Field::PasswordAgain)
        {
            problems.push(Problem {
                field: "admin.password".into(),
                message: "the two passwords differ".into(),
            });
        }
        problems
    }

    /// The problems of one field (by its answers-file path). The erase confirmation's only
    /// problem is not being typed.
    pub fn problems_of(&self, field: Field, password_hash: Option<&str>) -> Vec<String> {
        if field == Field::EraseConfirm {
            if self.get(field) == CONFIRM_WORD {
                return Vec::new();
            }
            return vec![format!(
                "type {CONFIRM_WORD} to erase {} and install; Esc goes back",
                self.get(Field::DiskDevice)
            )];
        }
        self.problems(password_hash)
            .into_iter()
            .filter(|p| {
                p.field == field.path() || p.field.starts_with(&format!("{}[", field.path()))
            })
            .filter(|p| field != Field::PasswordAgain || p.message == "the two passwords differ")
            .filter(|p| field != Field::Password || p.message != "the two passwords differ")
            .map(|p| p.message)
            .collect()
    }

    /// The plan, when the form is valid (a joining node's comes from its join).
    pub fn plan(&self, password_hash: Option<&str>) -> Option<Plan> {
        if self.joining || !self.problems(password_hash).is_empty() {
            return None;
        }
        validate(&self.raw(password_hash)).ok()
    }

    /// A joining node's answers and token, when the form is valid.
    pub fn join_answers(&self) -> Option<(JoinAnswers, Token)> {
        if !self.joining {
            return None;
        }
        crate::join::check(&self.raw(None)).ok()
    }

    /// A hint on the password's strength.
    pub fn strength(&self) -> &'static str {
        let p = self.get(Field::Password);
        let classes = [
            p.chars().any(|c| c.is_ascii_lowercase()),
            p.chars().any(|c| c.is_ascii_uppercase()),
            p.chars().any(|c| c.is_ascii_digit()),
            p.chars().any(|c| !c.is_ascii_alphanumeric()),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        match (p.chars().count(), classes) {
            (0, _) => "",
            (n, _) if n < 10 => "too short",
            (n, c) if n >= 16 && c >= 3 => "strong",
            (n, c) if n >= 12 && c >= 2 => "good",
            _ => "weak: longer, or mix letters, digits and signs",
        }
    }
}
