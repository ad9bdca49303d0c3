//! The cluster as the console shows it, built from what the directory and the nodes' control
//! planes said (a [`Snapshot`]): one [`NodeRow`] per node, with each cell as text. Pure: no
//! LDAP, no network, no clock (the time comes in the snapshot), so every row is unit-tested.

use pigeonair_appliance::balancer_status::Row as BalancerRow;
use pigeonair_ctl::directory::NodeInfo;
use pigeonair_join::DrainProgress;

/// What one refresh found: the nodes as `pigeonctl node list` sees them, each with its
/// control plane's answer filled in (`pigeonair_ctl::cluster::ask_nodes`), or why the
/// directory could not be read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The nodes, by host name.
    pub nodes: Vec<NodeInfo>,
    /// Why the directory could not be read (then `nodes` is empty).
    pub error: Option<String>,
    /// When it was taken (unix seconds).
    pub at: u64,
}

/// One service as the balancer checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// SMTP: ports 25, 465, 587.
    Smtp,
    /// IMAP: ports 143, 993.
    Imap,
    /// POP3: ports 110, 995.
    Pop3,
}

impl Service {
    /// The three, in the table's order.
    pub const ALL: [Service; 3] = [Service::Smtp, Service::Imap, Service::Pop3];

    /// Which service a balancer row's `service` is: an IPVS service (`TCP 203.0.113.240:25`)
    /// by its port; a DNS name stands for all three (its health is the worst of its ports).
    pub fn of(service: &str) -> Vec<Service> {
        let ipvs = service.starts_with("TCP ") || service.starts_with("UDP ");
        if !ipvs {
            return Service::ALL.to_vec();
        }
        let port = service
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok());
        match port {
            Some(25 | 465 | 587) => vec![Service::Smtp],
            Some(143 | 993) => vec![Service::Imap],
            Some(110 | 995) => vec![Service::Pop3],
            _ => vec![],
        }
    }

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Service::Smtp => "SMTP",
            Service::Imap => "IMAP",
            Service::Pop3 => "POP3",
        }
    }
}

/// One node's row and the detail shown when it is selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Host name.
    pub hostname: String,
    /// The name in the table: the host name without the domain all nodes share.
    pub short: String,
    /// `joining`, `active`, `draining`, `drained`, `removed` (the directory's word).
    pub state: String,
    /// `provider`, `ca`, or empty.
    pub roles: Vec<String>,
    /// Private address, or `-`.
    pub private: String,
    /// Public address, or `-`.
    pub public: String,
    /// Mailboxes whose home node it is.
    pub mailboxes: usize,
    /// Whether its pigeonaird answered.
    pub reachable: bool,
    /// `reachable`, or `unreachable: why`.
    pub pigeonaird: String,
    /// Disk use of its mailboxes' file system: `42%`, or `-`.
    pub disk: String,
    /// The same with the sizes: `8.4 GB of 20.0 GB (42%)`, or why not known.
    pub disk_detail: String,
    /// SMTP, IMAP, POP3 as the balancer sees them: `up`, `down`, `unchecked`, or `-` when no
    /// balancer reported the node.
    pub health: [String; 3],
    /// For the detail: each service's health and for how long, and a failed check's reason.
    pub health_detail: Vec<String>,
    /// `in sync`, `+250ms`, `?` (the table's short form).
    pub replication: String,
    /// The long form: `in sync`, `behind by 250 ms`, `not known`, …
    pub replication_detail: String,
    /// Messages in its queue, or `-`.
    pub queue: String,
    /// The same with those for hosted domains.
    pub queue_detail: String,
    /// Its drain's progress.
    pub progress: Option<DrainProgress>,
}

/// The whole cluster, as rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// One per node, by host name.
    pub rows: Vec<NodeRow>,
    /// Whether any node runs a balancer that reported health.
    pub balancer_seen: bool,
    /// Why the directory could not be read.
    pub error: Option<String>,
}

/// Bytes for people: `8.4 GB`, `512.0 MB`, `12 kB` (powers of 1000, as `DrainProgress` does).
pub fn bytes(b: u64) -> String {
    let f = b as f64;
    if f >= 1e12 {
        format!("{:.1} TB", f / 1e12)
    } else if f >= 1e9 {
        format!("{:.1} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.0} kB", f / 1e3)
    } else {
        format!("{b} B")
    }
}

/// The domain every name shares (`.example.com`), if more than the first label differs.
fn common_suffix(names: &[&str]) -> Option<String> {
    let first = names.first()?;
    let (_, rest) = first.split_once('.')?;
    let suffix = format!(".{rest}");
    names
        .iter()
        .all(|n| n.len() > suffix.len() && n.ends_with(&suffix))
        .then_some(suffix)
}

/// A node's health for each service from the balancer rows that name it: the worst any row
/// reports (`down` over `unchecked` over `up`), `-` when none reports it.
fn health(rows: &[&BalancerRow]) -> ([String; 3], Vec<String>) {
    let rank = |h: &str| match h {
        "up" => 0,
        "unchecked" => 1,
        _ => 2,
    };
    let mut cells: [Option<&BalancerRow>; 3] = [None, None, None];
    for r in rows {
        for s in Service::of(&r.service) {
            let i = s as usize;
            if cells[i].is_none_or(|c| rank(&r.health) > rank(&c.health)) {
                cells[i] = Some(r);
            }
        }
    }
    let table = cells.map(|c| c.map_or_else(|| "-".to_owned(), |r| r.health.clone()));
    // One row for all three (a DNS balancer's name): one line.
    if let [Some(a), Some(b), Some(c)] = cells
        && std::ptr::eq(a, b)
        && std::ptr::eq(b, c)
    {
        let mut line = format!(
            "SMTP/IMAP/POP3 {} for {} s ({})",
            a.health, a.health_for_s, a.state
        );
        if a.health != "up"
            && let Some(e) = &a.last_error
        {
            line.push_str(&format!(": {e}"));
        }
        return (table, vec![line]);
    }
    let mut detail = Vec::new();
    for (s, c) in Service::ALL.iter().zip(cells) {
        if let Some(r) = c {
            let mut line = format!(
                "{} {} for {} s ({})",
                s.label(),
                r.health,
                r.health_for_s,
                r.state
            );
            if r.health != "up"
                && let Some(e) = &r.last_error
            {
                line.push_str(&format!(": {e}"));
            }
            detail.push(line);
        }
    }
    (table, detail)
}

fn short_replication(long: &str) -> String {
    if long == "in sync" {
        return long.to_owned();
    }
    match long
        .strip_prefix("behind by ")
        .and_then(|r| r.strip_suffix(" ms"))
    {
        Some(ms) => format!("+{ms}ms"),
        None => "?".to_owned(),
    }
}

impl ClusterView {
    /// The rows of `snapshot`.
    pub fn build(snapshot: &Snapshot) -> ClusterView {
        let names: Vec<&str> = snapshot.nodes.iter().map(|n| n.hostname.as_str()).collect();
        let suffix = common_suffix(&names);
        // Health as the balancer sees it: the rows of every node that runs one.
        let balancer: Vec<&BalancerRow> = snapshot
            .nodes
            .iter()
            .filter_map(|n| n.status.as_ref())
            .flat_map(|s| s.balancer.iter())
            .collect();
        let rows = snapshot
            .nodes
            .iter()
            .map(|n| {
                let short = match &suffix {
                    Some(s) => n.hostname.trim_end_matches(s.as_str()).to_owned(),
                    None => n.hostname.clone(),
                };
                let short_node = n.hostname.split('.').next().unwrap_or_default();
                // The balancer names nodes as balancer.toml does: the host name or its first
                // label.
                let named: Vec<&BalancerRow> = balancer
                    .iter()
                    .copied()
                    .filter(|r| r.node == n.hostname || r.node == short_node)
                    .collect();
                let (health, health_detail) = health(&named);
                let status = n.status.as_ref();
                let ip = |a: Option<std::net::Ipv4Addr>| a.map_or("-".into(), |a| a.to_string());
                let (disk, disk_detail) = match (status, status.and_then(|s| s.disk)) {
                    (_, Some(d)) => (
                        format!("{}%", d.percent()),
                        format!("{} of {} ({}%)", bytes(d.used), bytes(d.size), d.percent()),
                    ),
                    (Some(_), None) => ("-".into(), "not reported by the node".into()),
                    (None, None) => ("-".into(), "not known".into()),
                };
                let (queue, queue_detail) = match status {
                    Some(s) => (
                        s.queued.map_or("-".into(), |q| q.to_string()),
                        format!(
                            "{} ({} for hosted domains)",
                            s.queued.map_or("?".into(), |q| q.to_string()),
                            s.queued_hosted.map_or("?".into(), |q| q.to_string())
                        ),
                    ),
                    None => ("-".into(), "not known".into()),
                };
                let reachable = status.is_some();
                NodeRow {
                    hostname: n.hostname.clone(),
                    short,
                    state: n.state.clone(),
                    roles: n.roles.clone(),
                    private: ip(n.private),
                    public: ip(n.public),
                    mailboxes: n.mailboxes,
                    reachable,
                    pigeonaird: n.pigeonaird.clone(),
                    disk,
                    disk_detail,
                    health,
                    health_detail,
                    replication: if reachable {
                        short_replication(&n.replication)
                    } else {
                        "unreachable".into()
                    },
                    replication_detail: n.replication.clone(),
                    queue,
                    queue_detail,
                    progress: n.progress.clone(),
                }
            })
            .collect();
        ClusterView {
            rows,
            balancer_seen: !balancer.is_empty(),
            error: snapshot.error.clone(),
        }
    }

    /// The row of `hostname`.
    pub fn row(&self, hostname: &str) -> Option<&NodeRow> {
        self.rows.iter().find(|r| r.hostname == hostname)
    }
}

/// A drain's progress as the progress view shows it, a line each: mailboxes, bytes, rate and
/// time left, failures. `state` is the node's state now (a drain ends `drained`).
pub fn progress_lines(p: Option<&DrainProgress>, state: &str, now: u64) -> Vec<String> {
    let Some(p) = p else {
        return vec![match state {
            "draining" => "waiting for the node's control plane to start the drain".into(),
            other => format!("no drain recorded (the node is {other})"),
        }];
    };
    let elapsed = now.saturating_sub(p.started).max(1);
    let rate = p.bytes_done as f64 / elapsed as f64;
    let mut lines = vec![
        format!("mailboxes  {}/{}", p.mailboxes_done, p.mailboxes_total),
        format!(
            "bytes      {} of {}",
            bytes(p.bytes_done),
            bytes(p.bytes_total)
        ),
        format!("rate       {}/s", bytes(rate as u64)),
    ];
    let left = match p.finished {
        Some(end) => format!("done in {} s", end.saturating_sub(p.started)),
        None if p.mailboxes_done > 0 && p.mailboxes_done < p.mailboxes_total => {
            // By mailboxes, as `DrainProgress::line` does.
            let per = elapsed as f64 / p.mailboxes_done as f64;
            format!(
                "about {:.0} s left",
                per * (p.mailboxes_total - p.mailboxes_done) as f64
            )
        }
        None if p.mailboxes_total == p.mailboxes_done => "flushing the queue".into(),
        None => "not known yet".into(),
    };
    lines.push(format!(
        "time       {left} (started {} s ago)",
        now.saturating_sub(p.started)
    ));
    if !p.failed.is_empty() {
        lines.push(format!(
            "failed     {}: {} (drain again to retry)",
            p.failed.len(),
            p.failed.join(", ")
        ));
    }
    lines
}

/// The fraction of a drain done, by mailboxes (1 once finished).
pub fn progress_ratio(p: Option<&DrainProgress>) -> f64 {
    match p {
        Some(p) if p.finished.is_some() => 1.0,
        Some(p) if p.mailboxes_total > 0 => {
            (p.mailboxes_done as f64 / p.mailboxes_total as f64).clamp(0.0, 1.0)
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_join::{DiskUse, NodeStatus};

    fn info(name: &str, state: &str, mailboxes: usize) -> NodeInfo {
        NodeInfo {
            hostname: name.into(),
            state: state.into(),
            roles: vec![],
            public: Some("203.0.113.12".parse().unwrap()),
            private: Some("10.42.0.12".parse().unwrap()),
            mailboxes,
            replication: "unknown".into(),
            pigeonaird: "not asked".into(),
            progress: None,
            status: None,
        }
    }

    fn brow(service: &str, node: &str, health: &str) -> BalancerRow {
        BalancerRow {
            service: service.into(),
            node: node.into(),
            address: "10.42.0.12:25".into(),
            health: health.into(),
            health_for_s: 7,
            state: "active".into(),
            last_error: (health != "up").then(|| "connect: refused".into()),
            ..BalancerRow::default()
        }
    }

    fn status(name: &str, balancer: Vec<BalancerRow>) -> NodeStatus {
        NodeStatus {
            hostname: name.into(),
            context_csn: vec![],
            queued_hosted: Some(1),
            queued: Some(4),
            disk: Some(DiskUse {
                used: 8_400_000_000,
                size: 20_000_000_000,
            }),
            balancer,
        }
    }

    #[test]
    fn rows_from_the_directory_and_the_nodes_answers() {
        let mut n1 = info("node1.example.com", "active", 10);
        n1.roles = vec!["provider".into(), "ca".into()];
        n1.pigeonaird = "reachable".into();
        n1.replication = "in sync".into();
        n1.status = Some(status(
            "node1.example.com",
            vec![
                brow("TCP 203.0.113.240:25", "node2", "up"),
                brow("TCP 203.0.113.240:993", "node2", "down"),
                brow("TCP 203.0.113.240:143", "node2", "up"),
                brow("TCP 203.0.113.240:9999", "node2", "down"),
            ],
        ));
        let mut n2 = info("node2.example.com", "draining", 3);
        n2.pigeonaird = "reachable".into();
        n2.replication = "behind by 250 ms".into();
        n2.status = Some(status("node2.example.com", vec![]));
        let v = ClusterView::build(&Snapshot {
            nodes: vec![n1, n2],
            error: None,
            at: 0,
        });
        assert!(v.balancer_seen);
        let r = &v.rows[1];
        assert_eq!((r.short.as_str(), r.state.as_str()), ("node2", "draining"));
        assert_eq!(
            r.health,
            ["up", "down", "-"].map(String::from),
            "IMAP's worst port"
        );
        assert_eq!(
            r.health_detail[1],
            "IMAP down for 7 s (active): connect: refused"
        );
        assert_eq!(r.replication, "+250ms");
        assert_eq!(r.replication_detail, "behind by 250 ms");
        assert_eq!((r.disk.as_str(), r.queue.as_str()), ("42%", "4"));
        assert_eq!(r.disk_detail, "8.4 GB of 20.0 GB (42%)");
        assert_eq!(r.queue_detail, "4 (1 for hosted domains)");
        // node1 is not named by its balancer: no health known.
        assert_eq!(v.rows[0].health, ["-", "-", "-"].map(String::from));
        assert_eq!(v.rows[0].replication, "in sync");
    }

    #[test]
    fn a_node_that_does_not_answer_is_unreachable() {
        let mut n = info("node3.example.com", "active", 0);
        n.pigeonaird = "unreachable: no answer within 2 s".into();
        n.replication = "not known".into();
        let v = ClusterView::build(&Snapshot {
            nodes: vec![n],
            error: None,
            at: 0,
        });
        let r = &v.rows[0];
        assert!(!r.reachable);
        assert_eq!(r.replication, "unreachable");
        assert_eq!((r.disk.as_str(), r.queue.as_str()), ("-", "-"));
        assert_eq!(r.disk_detail, "not known");
        assert!(!v.balancer_seen);
        // One node alone keeps its whole name (nothing to shorten against).
        assert_eq!(r.short, "node3");
    }

    #[test]
    fn a_dns_balancer_row_stands_for_every_service() {
        assert_eq!(Service::of("mx.example.com"), Service::ALL.to_vec());
        assert_eq!(Service::of("TCP 203.0.113.240:587"), vec![Service::Smtp]);
        assert_eq!(Service::of("TCP 203.0.113.240:995"), vec![Service::Pop3]);
        assert!(Service::of("TCP 203.0.113.240:80").is_empty());
    }

    #[test]
    fn names_lose_only_the_domain_they_all_share() {
        assert_eq!(
            common_suffix(&["node1.example.com", "node2.example.com"]).as_deref(),
            Some(".example.com")
        );
        assert_eq!(common_suffix(&["a.example.com", "b.example.net"]), None);
        assert_eq!(common_suffix(&["localhost"]), None);
    }

    #[test]
    fn progress_lines_of_a_drain() {
        let p = DrainProgress {
            started: 100,
            mailboxes_total: 10,
            mailboxes_done: 4,
            bytes_total: 40_000_000,
            bytes_done: 12_000_000,
            failed: vec!["bob@example.com".into()],
            finished: None,
        };
        assert_eq!(
            progress_lines(Some(&p), "draining", 110),
            [
                "mailboxes  4/10",
                "bytes      12.0 MB of 40.0 MB",
                "rate       1.2 MB/s",
                "time       about 15 s left (started 10 s ago)",
                "failed     1: bob@example.com (drain again to retry)",
            ]
        );
        assert!((progress_ratio(Some(&p)) - 0.4).abs() < 1e-9);
        let mut done = p.clone();
        done.finished = Some(130);
        done.failed.clear();
        assert_eq!(
            progress_lines(Some(&done), "drained", 200)[3],
            "time       done in 30 s (started 100 s ago)"
        );
        assert_eq!(progress_ratio(Some(&done)), 1.0);
        assert_eq!(
            progress_lines(None, "draining", 0),
            ["waiting for the node's control plane to start the drain"]
        );
        assert_eq!(progress_ratio(None), 0.0);
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345), "12 kB");
        assert_eq!(bytes(8_400_000_000), "8.4 GB");
    }
}
