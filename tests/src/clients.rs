//! Real mail clients run at a lab's client address, for end-to-end tests: swaks for SMTP, and
//! Python's imaplib and poplib (`tests/clients/mailclient.py`) for IMAP and POP3.

use std::process::Output;
use std::time::Duration;

use crate::support::{LabCli, stdout};

/// node1's public address in every lab.
pub const NODE1: &str = "203.0.113.11";

/// Standard output and error of `out`, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether swaks's dialogue has an error reply with `code` (`<**` in clear, `<~*` over TLS).
pub fn replied(dialogue: &str, code: &str) -> bool {
    dialogue
        .lines()
        .any(|l| l.starts_with(&format!("<** {code}")) || l.starts_with(&format!("<~* {code}")))
}

/// swaks from the client to node1 with `args`; its output is the whole SMTP dialogue.
pub fn swaks(lab: &LabCli, args: &[&str]) -> Output {
    let mut cmd = vec!["swaks", "--server", NODE1, "--timeout", "20"];
    cmd.extend(args);
    lab.client(&cmd)
}

/// `mailclient.py ARGS` from the client (see that script for its commands); a refused login
/// exits 3.
pub fn mailclient(lab: &LabCli, args: &[&str]) -> Output {
    let py = format!("{}/clients/mailclient.py", env!("CARGO_MANIFEST_DIR"));
    let mut cmd = vec!["python3", py.as_str()];
    cmd.extend(args);
    lab.client(&cmd)
}

/// The newest message of `user`'s INBOX over IMAPS.
pub fn imap_newest(lab: &LabCli, user: &str, password: &str) -> Output {
    mailclient(lab, &["imap", NODE1, "993", "tls", user, password])
}

/// Waits up to 6 s for a message containing `needle` to be `user`'s newest over IMAPS.
pub fn arrives(lab: &LabCli, user: &str, password: &str, needle: &str) -> bool {
    for _ in 0..60 {
        let out = imap_newest(lab, user, password);
        if out.status.success() && stdout(&out).contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// How a submission reaches node1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submission {
    /// Port 587 without STARTTLS (AUTH must be refused).
    Plain587,
    /// Port 587 after STARTTLS.
    StartTls587,
    /// Port 465, TLS from the first byte (RFC 8314).
    Implicit465,
}

/// A submission from the client to node1 (`how`): AUTH PLAIN as `user` with `password` (no
/// AUTH at all when `user` is empty), stopping after `quit_after` (an SMTP verb) when given.
pub fn submit(
    lab: &LabCli,
    how: Submission,
    from: &str,
    to: &str,
    user: &str,
    password: &str,
    quit_after: Option<&str>,
) -> Output {
    let mut args = match how {
        Submission::Plain587 => vec!["--port", "587"],
        Submission::StartTls587 => vec!["--port", "587", "--tls"],
        Submission::Implicit465 => vec!["--port", "465", "--tls-on-connect"],
    };
    args.extend(["--to", to, "--from", from]);
    if !user.is_empty() {
        args.extend([
            "--auth",
            "PLAIN",
            "--auth-user",
            user,
            "--auth-password",
            password,
        ]);
    }
    if let Some(verb) = quit_after {
        args.extend(["--quit-after", verb]);
    }
    swaks(lab, &args)
}
