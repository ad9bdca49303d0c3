//! What `pigeonair-balancer status` shows: the daemon writes a [`Status`] to
//! `/run/pigeonair-balancer/status.json` after every change; the status command reads it and, in
//! IPVS mode, adds the kernel's live connection counters. Rendering is pure. The file's types
//! live in `pigeonair_appliance::balancer_status`, which pigeonaird reads too.

use std::fmt::Write as _;

pub use pigeonair_appliance::balancer_status::{DEFAULT_STATUS_PATH, Row, Status};

/// The human table.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pigeonair-balancer (pid {}): mode {}; {}",
        s.pid, s.mode, s.summary
    );
    let _ = writeln!(
        out,
        "config {} (generation {})",
        s.config_path, s.generation
    );
    if let Some(e) = &s.config_error {
        let _ = writeln!(
            out,
            "config REFUSED, previous one still in force:\n  {}",
            e.replace('\n', "\n  ")
        );
    }
    let header = [
        "SERVICE", "NODE", "ADDRESS", "HEALTH", "STATE", "WEIGHT", "ACTIVE", "INACTIVE",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    for r in &s.rows {
        rows.push([
            r.service.clone(),
            r.node.clone(),
            r.address.clone(),
            format!("{} {}s", r.health, r.health_for_s),
            r.state.clone(),
            opt(r.weight),
            opt(r.active_conns),
            opt(r.inactive_conns),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for r in s.rows.iter().filter(|r| r.health != "up") {
        if let Some(e) = &r.last_error {
            let _ = writeln!(out, "{} {}: {}", r.node, r.address, e);
        }
    }
    for e in &s.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_up_and_shows_errors() {
        let s = Status {
            pid: 7,
            config_path: "/etc/pigeonair/balancer.toml".into(),
            mode: "ipvs".into(),
            generation: 2,
            config_error: Some("ipvs.scheduler: \"x\": unknown scheduler".into()),
            summary: "VIP 203.0.113.240, dr, wlc".into(),
            rows: vec![Row {
                service: "TCP 203.0.113.240:25".into(),
                node: "node2".into(),
                address: "10.42.0.12:25".into(),
                health: "down".into(),
                health_for_s: 3,
                state: "quiesced".into(),
                weight: Some(0),
                active_conns: Some(1),
                inactive_conns: Some(0),
                last_error: Some("connect: Connection refused".into()),
            }],
            errors: vec![
                "add destination 10.9.9.9:25 to TCP 203.0.113.240:25: invalid operation".into(),
            ],
        };
        let text = render(&s);
        assert!(text.contains("config REFUSED"), "{text}");
        assert!(
            text.contains(
                "TCP 203.0.113.240:25  node2  10.42.0.12:25  down 3s  quiesced  0       1       0"
            ),
            "{text}"
        );
        assert!(
            text.contains("node2 10.42.0.12:25: connect: Connection refused"),
            "{text}"
        );
        assert!(text.contains("error: add destination"), "{text}");
    }
}
