//! What this node answers in `GET /v1/status` ([`NodeStatus`]): its directory's `contextCSN`,
//! its mail queue, the disk its mailboxes are on and, if it runs the balancer, the balancer's
//! rows. The parsers are pure; [`gather`] is the shell (slapd, postqueue, df, a file in /run).

use std::process::Command;

use pigeonair_appliance::balancer_status::{DEFAULT_STATUS_PATH, Row, Status};
use pigeonair_join::{DiskUse, NodeStatus};

/// Where the mailboxes are: the file system whose use is reported.
pub const MAILBOX_ROOT: &str = "/var/vmail";

/// `df -B1 --output=used,size PATH`'s answer → the use. Pure.
pub fn parse_df(text: &str) -> Option<DiskUse> {
    // A header line, then "USED SIZE" in bytes.
    let line = text.lines().nth(1)?;
    let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some(DiskUse {
        used: fields.next()??,
        size: fields.next()??,
    })
}

/// The rows of the balancer's status file; none if it is missing or not a status. Pure.
pub fn balancer_rows(text: Option<&str>) -> Vec<Row> {
    text.and_then(|t| serde_json::from_str::<Status>(t).ok())
        .map(|s| s.rows)
        .unwrap_or_default()
}

fn disk_use(path: &str) -> Option<DiskUse> {
    let out = Command::new("df")
        .args(["-B1", "--output=used,size", path])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_df(&String::from_utf8_lossy(&out.stdout))
}

/// This node's status (blocking: run it off the async workers). Fails only when the directory
/// cannot be read; what else cannot be told is left `None`.
pub fn gather(hostname: &str) -> Result<NodeStatus, String> {
    let context_csn = crate::reconcile::context_csn()?;
    let queue = crate::drain::queue_counts().ok();
    Ok(NodeStatus {
        hostname: hostname.to_owned(),
        context_csn,
        queued_hosted: queue.map(|(_, hosted)| hosted as u64),
        queued: queue.map(|(all, _)| all as u64),
        disk: disk_use(MAILBOX_ROOT),
        balancer: balancer_rows(std::fs::read_to_string(DEFAULT_STATUS_PATH).ok().as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_use_from_df() {
        let out = "     Used        1B-blocks\n 123456789  1000000000000\n";
        assert_eq!(
            parse_df(out),
            Some(DiskUse {
                used: 123_456_789,
                size: 1_000_000_000_000
            })
        );
        assert_eq!(parse_df("Used 1B-blocks\n"), None);
        assert_eq!(parse_df("Used 1B-blocks\n12 x\n"), None);
    }

    #[test]
    fn balancer_rows_from_its_status_file() {
        let text = r#"{"pid":7,"config_path":"/etc/pigeonair/balancer.toml","mode":"dns",
            "generation":1,"config_error":null,"summary":"zone","errors":[],
            "rows":[{"service":"mx.example.com","node":"node2","address":"10.42.0.12",
            "health":"down","health_for_s":3,"state":"left out","weight":null,
            "active_conns":null,"inactive_conns":null,"last_error":"connect: refused"}]}"#;
        let rows = balancer_rows(Some(text));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].node.as_str(), rows[0].health.as_str()),
            ("node2", "down")
        );
        assert!(balancer_rows(None).is_empty());
        assert!(balancer_rows(Some("{")).is_empty());
    }
}
