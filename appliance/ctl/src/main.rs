//! `pigeonctl`: administers PigeonAir by writing the directory and nothing else.
//!
//! On a node, root needs no password (ldapi, SASL EXTERNAL). From elsewhere:
//! `--uri ldap://NODE --bind-dn cn=admin,ou=admins,o=pigeonair` and the password from
//! `--password-file FILE` or a prompt. Exit codes: 0 done, 1 directory unreachable or failed,
//! 2 invalid input, 3 not found, 4 exists already, 5 refused.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use pigeonair_appliance::address::{MailAddress, Quota};
use pigeonair_appliance::crypt::random_secret;
use pigeonair_appliance::directory::LDAPI_URL;
use pigeonair_appliance::types::MailDomain;
use pigeonair_ctl::directory::{address_arg, domain_arg};
use pigeonair_ctl::{CtlError, Directory};
use pigeonair_directory::Credentials;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "pigeonctl",
    version,
    about = "Administer PigeonAir: domains, users, aliases, quotas (LDAP writes only)"
)]
struct Cli {
    /// The directory: ldapi:// on a node (default), or ldap://NODE with --bind-dn.
    #[arg(long, global = true, env = "PIGEONCTL_URI", default_value = LDAPI_URL)]
    uri: String,
    /// Bind as this administrator (simple bind) instead of root over ldapi.
    #[arg(long, global = true, env = "PIGEONCTL_BIND_DN")]
    bind_dn: Option<String>,
    /// Read the administrator's password from this file (else it is asked for).
    #[arg(long, global = true)]
    password_file: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Hosted mail domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Users (mailboxes).
    #[command(subcommand)]
    User(UserCmd),
    /// Aliases: addresses that deliver to other addresses.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Cluster nodes and the tokens new nodes join with.
    #[command(subcommand)]
    Node(NodeCmd),
    /// The cluster as a whole.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Import domains, users and aliases from a CSV or LDIF file (`-`: standard input); checked
    /// whole first: with any problem nothing is imported.
    Import {
        /// The file.
        file: PathBuf,
        /// csv or ldif (default: from the file name's extension).
        #[arg(long)]
        format: Option<String>,
    },
    /// Print shell completions (bash, zsh, fish, …).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum DomainCmd {
    /// Host a new domain.
    Add {
        /// The domain.
        name: String,
        /// Make it an alias domain of this hosted domain.
        #[arg(long)]
        alias_of: Option<String>,
    },
    /// List domains.
    List,
    /// Show a domain.
    Show {
        /// The domain.
        name: String,
    },
    /// Disable a domain: its users neither receive mail nor log in.
    Disable {
        /// The domain.
        name: String,
    },
    /// Enable a disabled domain.
    Enable {
        /// The domain.
        name: String,
    },
    /// Remove a domain (refused while it has users, unless --with-users).
    Remove {
        /// The domain.
        name: String,
        /// Remove its users (as `user remove` does: mailboxes kept for the grace period) and
        /// aliases too.
        #[arg(long)]
        with_users: bool,
        /// How long removed users' mailboxes are kept: 90s, 12h, 30d.
        #[arg(long, default_value = "30d")]
        grace: String,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct PasswordSource {
    /// Read the new password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Make a random password and print it once.
    #[arg(long)]
    random_password: bool,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; it can receive mail and log in at once.
    Add {
        /// The address.
        address: String,
        /// Display name (default: the part before @).
        #[arg(long)]
        name: Option<String>,
        /// Storage quota: 500M, 2G, unlimited.
        #[arg(long, default_value = "unlimited", allow_hyphen_values = true)]
        quota: String,
        /// The home node (default: the active node with the fewest mailboxes).
        #[arg(long)]
        node: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users, of one domain or all.
    List {
        /// Only this domain.
        domain: Option<String>,
    },
    /// Show a user.
    Show {
        /// The address.
        address: String,
    },
    /// Set a user's password.
    Passwd {
        /// The address.
        address: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Disable a user: login refused, mail to it refused.
    Disable {
        /// The address.
        address: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The address.
        address: String,
    },
    /// Set a user's quota.
    Quota {
        /// The address.
        address: String,
        /// 500M, 2G, unlimited.
        #[arg(allow_hyphen_values = true)]
        quota: String,
    },
    /// Rename a user; mail stays in its mailbox, the old address becomes an alias of the new.
    Rename {
        /// The current address.
        old: String,
        /// The new address.
        new: String,
        /// Let the old address stop instead of becoming an alias.
        #[arg(long)]
        no_alias: bool,
    },
    /// Forward a user's mail to other addresses, with or without keeping a copy.
    Forward {
        /// The address.
        address: String,
        /// Where to forward (repeat for several).
        #[arg(long = "to", required_unless_present = "off")]
        to: Vec<String>,
        /// Also keep a copy in the user's own mailbox.
        #[arg(long, conflicts_with = "off")]
        keep_copy: bool,
        /// Stop forwarding.
        #[arg(long, conflicts_with = "to")]
        off: bool,
    },
    /// Move a user's mailbox to another node. Its home node's control plane copies it over the
    /// private network while it stays in use, holds deliveries for a moment (they wait in the
    /// queue, nothing is refused), makes the last copy and hands the mailbox over: IMAP UIDs,
    /// flags and folders stay as they were, so no client downloads anything again. Waits and
    /// shows progress unless --no-wait.
    Move {
        /// The address.
        address: String,
        /// The node the mailbox goes to.
        #[arg(long, required_unless_present = "cancel")]
        to: Option<String>,
        /// Cancel a move that has not taken its lock yet.
        #[arg(long, conflicts_with = "to")]
        cancel: bool,
        /// Return once the move is asked for.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the move goes on): 90s, 30m, 1h.
        #[arg(long, default_value = "1h")]
        timeout: String,
    },
    /// Remove a user: it no longer receives mail or logs in, and the address is free. Its
    /// mailbox stays on its home node for the grace period (`user restore` brings it all
    /// back), then that node's control plane deletes it; --purge deletes it now.
    Remove {
        /// The address.
        address: String,
        /// Delete the mailbox now (waits until its home node has).
        #[arg(long, conflicts_with = "grace")]
        purge: bool,
        /// How long the mailbox is kept: 90s, 12h, 30d (at most 3650d).
        #[arg(long, default_value = "30d")]
        grace: String,
    },
    /// Bring back a removed user, with its mailbox, before the grace period ends.
    Restore {
        /// The address.
        address: String,
    },
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Every node: state, roles, addresses, mailboxes, replication (in sync, or how far behind
    /// the provider) and whether its pigeonaird answers (asked over the private network).
    List,
    /// Make a one-time join token (printed once; the directory keeps only its hash), or list
    /// or revoke tokens. Run it on a cluster node: the token pins the cluster CA it finds there.
    Token {
        /// How long the token is accepted: 90s, 30m, 1h, 7d (at most 7d).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Join through this node (default: the first active node holding the CA's key).
        #[arg(long)]
        via: Option<String>,
        /// List tokens (never their secrets).
        #[arg(long, conflicts_with_all = ["revoke", "via"])]
        list: bool,
        /// Revoke an unused token by its id (older ids may begin with `-`).
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "via",
            allow_hyphen_values = true
        )]
        revoke: Option<String>,
    },
    /// Drain a node: the balancer gives it no new connections, no new mailbox is placed on it,
    /// and its control plane moves its mailboxes to the other active nodes (a few at a time,
    /// each to the least loaded) and flushes its queue; it ends `drained`. Waits and shows
    /// progress unless --no-wait; run again after an interruption or failed moves, it goes on.
    Drain {
        /// The node's host name.
        node: String,
        /// Return once the drain is asked for.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the drain goes on): 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "7d")]
        timeout: String,
    },
    /// Bring a draining or drained node back into service; moves its drain asked for and
    /// that have not started are withdrawn.
    Undrain {
        /// The node's host name.
        node: String,
    },
    /// Change a node's part in the directory, one node at a time. `replica`: a provider steps
    /// down (refused unless another provider answers and is in sync); every node's slapd
    /// follows within seconds and the node drops its copy of the cluster CA's key. `provider`:
    /// an active replica in sync becomes a provider (refused while the cluster has two: hand
    /// one back first), with a server ID never given before; it gets the CA's key from a node
    /// holding it (over the cluster's mutual TLS, never through the directory), takes the roles
    /// provider and ca, and every node's slapd follows. Returns once its slapd is a provider
    /// and the other provider has its first change.
    Role {
        /// The node's host name.
        node: String,
        /// `provider` or `replica`.
        #[arg(value_parser = ["provider", "replica"])]
        role: String,
        /// With `provider`: give up waiting after this long (the move goes on; run the command
        /// again to follow it): 90s, 30m.
        #[arg(long, default_value = "2m")]
        timeout: String,
    },
    /// Renew a node's cluster certificate now (each node's control plane also renews its own
    /// once less than a third of its validity is left): the node makes a new key, a holder of
    /// the CA's key (either provider) signs it and records its serial, and the node's slapd,
    /// Dovecot and control plane use it from their next connections. Waits until it is in use
    /// unless --no-wait.
    Renew {
        /// The node's host name.
        node: String,
        /// Return once the renewal is asked for.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the renewal goes on): 90s, 30m.
        #[arg(long, default_value = "2m")]
        timeout: String,
    },
    /// Remove a drained node from the cluster: it leaves ou=nodes, its certificates are
    /// revoked (every node checks the cluster CA's revocation list, so it cannot come back
    /// with its old identity), and the other nodes and the balancer forget it. Refused for the
    /// directory's provider, the CA's holder, the last node, and a node holding mailboxes or
    /// queued mail for hosted domains.
    Remove {
        /// The node's host name.
        node: String,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Even out mailboxes over the active nodes: plans the fewest moves that leave every active
    /// node within one mailbox of the others (by count: the directory holds no sizes), shows
    /// them with each node's count before and after, asks for them as `user move` does and
    /// follows them with a progress line. Mailboxes being moved, or whose move failed, stay
    /// where they are; joining, draining and drained nodes take and give nothing.
    Rebalance {
        /// Show the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Return once the moves are asked for.
        #[arg(long, conflicts_with = "dry_run")]
        no_wait: bool,
        /// Give up waiting after this long (the moves go on): 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "7d")]
        timeout: String,
    },
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Make ADDRESS deliver to TARGETS (local or external addresses).
    Add {
        /// The alias.
        address: String,
        /// Where it delivers.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Remove targets from an alias, or the whole alias.
    Remove {
        /// The alias.
        address: String,
        /// Only these targets.
        targets: Vec<String>,
    },
    /// List aliases, of one domain or all.
    List {
        /// Only this domain.
        domain: Option<String>,
    },
}

fn main() -> ExitCode {
    pigeonair_docs::write_if_asked(Cli::command);
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pigeonctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn credentials(cli: &Cli) -> Result<Credentials, CtlError> {
    let Some(dn) = &cli.bind_dn else {
        return Ok(Credentials::LocalRoot);
    };
    let password = match &cli.password_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CtlError::Invalid(format!("--password-file {}: {e}", path.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("password for {dn}: "))
                .map_err(|e| CtlError::Invalid(format!("reading the password: {e}")))?
        }
        None => {
            return Err(CtlError::Invalid(
                "an administrator password is required: give --password-file FILE or run on a terminal".into(),
            ));
        }
    };
    if password.is_empty() {
        return Err(CtlError::Invalid(
            "the administrator password is empty".into(),
        ));
    }
    Ok(Credentials::Password {
        dn: dn.clone(),
        password,
    })
}

/// The new password: from standard input, or random (returned to be printed once).
fn new_password(src: &PasswordSource) -> Result<(String, bool), CtlError> {
    if src.random_password {
        return Ok((random_secret(20), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CtlError::Invalid(format!("reading the password from standard input: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.chars().count() < 8 || pw.chars().count() > 1024 || pw.chars().any(char::is_control) {
        return Err(CtlError::Invalid(
            "the password must have 8 to 1024 characters and no control characters".into(),
        ));
    }
    Ok((pw, false))
}

fn quota_arg(s: &str) -> Result<Quota, CtlError> {
    Quota::try_new(s).map_err(|e| CtlError::Invalid(format!("quota {e}")))
}

fn addresses(v: &[String]) -> Result<Vec<MailAddress>, CtlError> {
    v.iter().map(|a| address_arg(a)).collect()
}

fn optional_domain(d: &Option<String>) -> Result<Option<MailDomain>, CtlError> {
    d.as_deref().map(domain_arg).transpose()
}

/// Prints `value` as JSON, or `text` for people.
fn out<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    let mut stdout = std::io::stdout();
    let _ = if json {
        writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        )
    } else {
        write!(stdout, "{}", text())
    };
}

fn done(json: bool, what: String) {
    out(json, &serde_json::json!({ "done": what }), || {
        format!("{what}\n")
    });
}

/// Follows a move in the directory until the mailbox is on `to` and its old copy is gone,
/// printing each step (a JSON line per step with --json).
/// Connects to the directory again (what `run` connected with).
type Reconnect<'a> = &'a dyn Fn() -> Result<Directory, CtlError>;

/// One read of a wait loop. The node's slapd restarting under it (pigeonaird rebuilds slapd's
/// configuration when the directory providers change) is not the end of the wait: the
/// directory is connected to again and the read retried, for up to 30 s.
fn again<T>(
    dir: &mut Directory,
    reconnect: Reconnect,
    mut read: impl FnMut(&mut Directory) -> Result<T, CtlError>,
) -> Result<T, CtlError> {
    let started = std::time::Instant::now();
    loop {
        match read(dir) {
            Err(CtlError::Directory(_)) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(d) = reconnect() {
                    *dir = d;
                }
            }
            other => return other,
        }
    }
}

fn wait_for_move(
    dir: &mut Directory,
    reconnect: Reconnect,
    a: &pigeonair_appliance::address::MailAddress,
    to: &str,
    limit: Duration,
    json: bool,
) -> Result<(), CtlError> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let u = again(dir, reconnect, |d| d.user_show(a))?;
        let step = match &u.moving {
            None if u.home_node == to => {
                done(
                    json,
                    format!(
                        "{a} moved to {to} in {:.1} s",
                        started.elapsed().as_secs_f64()
                    ),
                );
                return Ok(());
            }
            None => {
                return Err(CtlError::Invalid(format!(
                    "the move of {a} was cancelled; it is on {}",
                    u.home_node
                )));
            }
            Some(m) if m.state.as_deref() == Some("failed") => {
                return Err(CtlError::Failed(format!(
                    "the move of {a} to {to} failed: {}; `pigeonctl user move {a} --to {to}` \
                     tries again",
                    m.detail.as_deref().unwrap_or("no reason given")
                )));
            }
            Some(m) => format!(
                "{}: {}",
                m.state.as_deref().unwrap_or("asked for"),
                m.detail
                    .as_deref()
                    .unwrap_or("waiting for its home node to start it")
            ),
        };
        if step != last {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "user": a.as_str(), "step": step })
                );
            } else {
                eprintln!("{a}: {step}");
            }
            last = step;
        }
        if started.elapsed() > limit {
            return Err(CtlError::Failed(format!(
                "the move of {a} to {to} is not done after {} s (it goes on: `pigeonctl user \
                 show {a}`)",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Seconds since 1970.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `--grace`: 90s, 12h, 30d, at most ten years.
fn grace_secs(text: &str) -> Result<u64, CtlError> {
    let bad = |why: &str| CtlError::Invalid(format!("--grace {text:?}: {why}"));
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = n
        .parse()
        .map_err(|_| bad("use a number and s, m, h or d, like 30d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad("use a number and s, m, h or d, like 30d")),
    };
    if secs > 3650 * 86_400 {
        return Err(bad("at most 3650d"));
    }
    Ok(secs)
}

/// Follows a drain until the node is drained, printing its progress when it changes (a JSON
/// event per change with --json).
fn wait_for_drain(
    dir: &mut Directory,
    reconnect: Reconnect,
    node: &str,
    limit: Duration,
    json: bool,
) -> Result<(), CtlError> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let d = again(dir, reconnect, |d| d.drain_state(node))?;
        let line = match &d.progress {
            Some(p) => p.line(unix_now()),
            None => "waiting for its control plane to start".into(),
        };
        // Printed when the drain moves on, not when only the clock does.
        let event = serde_json::to_string(&d).unwrap_or_default();
        if event != last {
            if json {
                println!("{event}");
            } else {
                eprintln!("{node}: {line}");
            }
            last = event;
        }
        match d.state.as_str() {
            "drained" => {
                if !json {
                    println!(
                        "{node} is drained ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(());
            }
            "draining" => {}
            other => {
                return Err(CtlError::Invalid(format!(
                    "{node} is {other} now: its drain was stopped"
                )));
            }
        }
        if started.elapsed() > limit {
            return Err(CtlError::Failed(format!(
                "{node} is not drained after {} s (the drain goes on: `pigeonctl node drain \
                 {node}` follows it again)",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Follows a rebalance's moves until each has ended, printing the progress when it changes (a
/// JSON event per change with --json). An error names the moves that failed or were cancelled.
fn wait_for_rebalance(
    dir: &mut Directory,
    reconnect: Reconnect,
    moves: &[pigeonair_ctl::rebalance::Move],
    limit: Duration,
    json: bool,
) -> Result<(), CtlError> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let (progress, steps) = again(dir, reconnect, |d| d.rebalance_progress(moves))?;
        let secs = started.elapsed().as_secs_f64();
        // Printed when a move moves on, not when only the clock does: with --json each step of
        // each move, for people the count of moves done.
        let now = if json {
            serde_json::json!({ "progress": progress, "moves": steps }).to_string()
        } else {
            format!(
                "{} {:?} {:?}",
                progress.done, progress.failed, progress.cancelled
            )
        };
        if now != last {
            if json {
                println!("{now}");
            } else {
                eprintln!("rebalance: {}", progress.line(secs));
            }
            last = now;
        }
        if progress.finished() {
            if progress.failed.is_empty() && progress.cancelled.is_empty() {
                done(
                    json,
                    format!("rebalanced: {} moves in {secs:.1} s", progress.done),
                );
                return Ok(());
            }
            let mut why = format!(
                "{} of {} moves done in {secs:.1} s",
                progress.done, progress.total
            );
            if !progress.failed.is_empty() {
                why.push_str(&format!(
                    "; failed: {} (`pigeonctl user show ADDRESS` says why, `pigeonctl user move \
                     ADDRESS --to NODE` retries one)",
                    progress.failed.join(", ")
                ));
            }
            if !progress.cancelled.is_empty() {
                why.push_str(&format!(
                    "; cancelled or sent elsewhere meanwhile: {}",
                    progress.cancelled.join(", ")
                ));
            }
            return Err(CtlError::Failed(why));
        }
        if started.elapsed() > limit {
            return Err(CtlError::Failed(format!(
                "the rebalance is not done after {} s ({}); its moves go on: `pigeonctl node \
                 list` shows the counts",
                limit.as_secs(),
                progress.line(secs)
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn run(cli: Cli) -> Result<(), CtlError> {
    // Everything a command takes is checked before the directory is touched.
    if let Cmd::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "pigeonctl",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let json = cli.json;
    let creds = credentials(&cli)?;
    let connect = || Directory::connect(&cli.uri, &creds);
    match &cli.command {
        Cmd::Completions { .. } => Ok(()),
        Cmd::Import { file, format } => {
            let format = match format.as_deref() {
                Some(f) => f.to_owned(),
                None => file
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .unwrap_or_default(),
            };
            let text = if file.as_os_str() == "-" {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| CtlError::Invalid(format!("reading standard input: {e}")))?;
                t
            } else {
                std::fs::read_to_string(file)
                    .map_err(|e| CtlError::Invalid(format!("{}: {e}", file.display())))?
            };
            let parsed = match format.as_str() {
                "csv" => pigeonair_ctl::import::parse_csv(&text),
                "ldif" => pigeonair_ctl::import::parse_ldif(&text),
                other => {
                    return Err(CtlError::Invalid(format!(
                        "--format {other:?}: use csv or ldif"
                    )));
                }
            };
            let records = parsed.map_err(|problems| {
                CtlError::Invalid(format!(
                    "{}: nothing was imported:\n{}",
                    file.display(),
                    problems.join("\n")
                ))
            })?;
            let started = std::time::Instant::now();
            let report = connect()?.import(&records)?;
            let secs = started.elapsed().as_secs_f64();
            out(json, &report, || {
                format!(
                    "imported {} domain(s), {} user(s), {} alias(es) in {secs:.1} s\n",
                    report.domains, report.users, report.aliases
                )
            });
            Ok(())
        }
        Cmd::Node(NodeCmd::List) => {
            let mut nodes = connect()?.node_list()?;
            pigeonair_ctl::cluster::ask_nodes(&mut nodes, pigeonair_ctl::cluster::CTL_LIMIT);
            out(json, &nodes, || {
                let mut t = format!(
                    "{:<24} {:<8} {:<15} {:<15} {:<15} {:>9}  {:<22} {}\n",
                    "NODE",
                    "STATE",
                    "ROLES",
                    "PUBLIC",
                    "PRIVATE",
                    "MAILBOXES",
                    "REPLICATION",
                    "PIGEONAIRD"
                );
                for n in &nodes {
                    let ip = |a: Option<std::net::Ipv4Addr>| {
                        a.map(|a| a.to_string()).unwrap_or_else(|| "-".into())
                    };
                    t.push_str(&format!(
                        "{:<24} {:<8} {:<15} {:<15} {:<15} {:>9}  {:<22} {}\n",
                        n.hostname,
                        n.state,
                        if n.roles.is_empty() {
                            "-".to_string()
                        } else {
                            n.roles.join(",")
                        },
                        ip(n.public),
                        ip(n.private),
                        n.mailboxes,
                        n.replication,
                        n.pigeonaird
                    ));
                }
                t
            });
            Ok(())
        }
        Cmd::Node(NodeCmd::Drain {
            node,
            no_wait,
            timeout,
        }) => {
            let limit = pigeonair_join::time::parse_ttl(timeout)
                .map_err(|e| CtlError::Invalid(format!("--timeout {timeout:?}: {e}")))?;
            let mut dir = connect()?;
            dir.node_drain(node)?;
            if *no_wait {
                done(json, format!("{node} is draining"));
                return Ok(());
            }
            wait_for_drain(&mut dir, &connect, node, Duration::from_secs(limit), json)
        }
        Cmd::Node(NodeCmd::Remove { node }) => {
            let mut dir = connect()?;
            dir.node_remove(node, pigeonair_ctl::cluster::CTL_LIMIT)?;
            dir.wait_removed(node, Duration::from_secs(60))?;
            done(
                json,
                format!("{node} is removed from the cluster; its certificates are revoked"),
            );
            Ok(())
        }
        Cmd::Cluster(ClusterCmd::Rebalance {
            dry_run,
            no_wait,
            timeout,
        }) => {
            let limit = pigeonair_join::time::parse_ttl(timeout)
                .map_err(|e| CtlError::Invalid(format!("--timeout {timeout:?}: {e}")))?;
            let mut dir = connect()?;
            let plan = dir.rebalance_plan()?;
            let uneven = || {
                if plan.even() {
                    String::new()
                } else {
                    "moves under way or failed keep the counts apart: run again once they are \
                     done (`pigeonctl user show ADDRESS`)\n"
                        .into()
                }
            };
            if *dry_run || plan.moves.is_empty() {
                out(json, &plan, || {
                    let what = match plan.moves.len() {
                        0 if plan.even() => {
                            "nothing to move: the active nodes are balanced".to_owned()
                        }
                        0 => "nothing to move now".to_owned(),
                        n => format!(
                            "{n} moves planned; dry run, nothing written: `pigeonctl cluster \
                             rebalance` asks for them"
                        ),
                    };
                    format!("{}{}{what}\n", plan.text(), uneven())
                });
                return Ok(());
            }
            if json {
                println!("{}", serde_json::json!({ "plan": plan }));
            } else {
                print!("{}{}", plan.text(), uneven());
            }
            let asked = dir.rebalance_ask(&plan.moves)?;
            for (m, why) in &asked.skipped {
                if json {
                    println!("{}", serde_json::json!({ "skipped": m, "why": why }));
                } else {
                    eprintln!("rebalance: {} left alone: {why}", m.user);
                }
            }
            if *no_wait {
                done(
                    json,
                    format!(
                        "{} moves asked for (`pigeonctl node list` shows the counts)",
                        asked.asked.len()
                    ),
                );
                return Ok(());
            }
            wait_for_rebalance(
                &mut dir,
                &connect,
                &asked.asked,
                Duration::from_secs(limit),
                json,
            )
        }
        Cmd::Node(NodeCmd::Role {
            node,
            role,
            timeout,
        }) if role == "provider" => {
            let limit = pigeonair_join::time::parse_ttl(timeout)
                .map_err(|e| CtlError::Invalid(format!("--timeout {timeout:?}: {e}")))?;
            let mut dir = connect()?;
            let mut nodes = dir.node_list()?;
            pigeonair_ctl::cluster::ask_nodes(&mut nodes, pigeonair_ctl::cluster::CTL_LIMIT);
            let p = dir.node_promote(node, &nodes)?;
            let id = p.server_id;
            let started = std::time::Instant::now();
            let mut last: String;
            // Until its slapd is provider `id` and the other provider has its first change
            // (`cluster::promotion_settled`). This node's own slapd may restart meanwhile (it
            // follows the providers too): a connection refused is tried again.
            let others = loop {
                std::thread::sleep(Duration::from_millis(500));
                let asked = connect().and_then(|mut d| d.node_list());
                match asked {
                    Ok(mut nodes) => {
                        pigeonair_ctl::cluster::ask_nodes(
                            &mut nodes,
                            pigeonair_ctl::cluster::CTL_LIMIT,
                        );
                        match pigeonair_ctl::cluster::promotion_settled(&nodes, node, id) {
                            Ok(others) => break others,
                            Err(why) => last = why,
                        }
                    }
                    Err(e) => last = format!("this node's directory: {e}"),
                }
                if started.elapsed() > Duration::from_secs(limit) {
                    return Err(CtlError::Failed(format!(
                        "{node} was chosen to become directory provider {id} but has not \
                         settled within {timeout}: {last}. It goes on by itself: run \
                         `pigeonctl node role {node} provider` again to follow it, and see \
                         `journalctl -u pigeonaird` on {node}"
                    )));
                }
            };
            done(
                json,
                format!(
                    "{node} is directory provider {id} now (it holds the CA's key); {} \
                     replicates with it ({:.1} s)",
                    if others.is_empty() {
                        "no other provider".to_owned()
                    } else {
                        others.join(", ")
                    },
                    started.elapsed().as_secs_f64()
                ),
            );
            Ok(())
        }
        Cmd::Node(NodeCmd::Role { node, .. }) => {
            let mut dir = connect()?;
            let mut nodes = dir.node_list()?;
            pigeonair_ctl::cluster::ask_nodes(&mut nodes, pigeonair_ctl::cluster::CTL_LIMIT);
            let other = dir.node_step_down(node, &nodes)?;
            // Every node's pigeonaird then rebuilds its slapd for the new providers (a restart
            // of a second or so): this command returns once this node's has, so the next one
            // run here does not meet a restarting directory.
            let uri = nodes
                .iter()
                .find(|n| n.hostname == *node)
                .and_then(|n| n.private)
                .map(|ip| format!("ldap://{ip}/"));
            let mut followed = uri.is_none();
            let started = std::time::Instant::now();
            while !followed && started.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(200));
                if let (Ok(mut d), Some(uri)) = (connect(), &uri) {
                    followed = matches!(d.config_mentions(uri), Ok(false));
                }
            }
            done(
                json,
                if followed {
                    format!("{node} is a replica now; {other} stays a provider")
                } else {
                    format!(
                        "{node} is a replica now; {other} stays a provider (this node's slapd \
                         has not followed yet after 60 s: see `journalctl -u pigeonaird`)"
                    )
                },
            );
            Ok(())
        }
        Cmd::Node(NodeCmd::Renew {
            node,
            no_wait,
            timeout,
        }) => {
            let limit = pigeonair_join::time::parse_ttl(timeout)
                .map_err(|e| CtlError::Invalid(format!("--timeout {timeout:?}: {e}")))?;
            let before = connect()?.node_renew(node)?;
            if *no_wait {
                done(json, format!("{node}'s certificate renewal is asked for"));
                return Ok(());
            }
            let started = std::time::Instant::now();
            let mut last: String;
            loop {
                std::thread::sleep(Duration::from_millis(300));
                match connect().and_then(|mut d| d.renewal_state(node)) {
                    Ok((false, serials)) => {
                        let new: Vec<&String> =
                            serials.iter().filter(|s| !before.contains(s)).collect();
                        done(
                            json,
                            format!(
                                "{node} uses a new cluster certificate{} ({:.1} s)",
                                match new.last() {
                                    Some(s) => format!(", serial {s}"),
                                    None => String::new(),
                                },
                                started.elapsed().as_secs_f64()
                            ),
                        );
                        return Ok(());
                    }
                    Ok((true, _)) => last = "still asked for".into(),
                    Err(e) => last = format!("this node's directory: {e}"),
                }
                if started.elapsed() > Duration::from_secs(limit) {
                    return Err(CtlError::Failed(format!(
                        "{node} has not renewed its certificate within {timeout} ({last}). It                          goes on by itself: run `pigeonctl node renew {node}` again to follow                          it, and see `journalctl -u pigeonaird` on {node}"
                    )));
                }
            }
        }
        Cmd::Node(NodeCmd::Undrain { node }) => {
            connect()?.node_undrain(node)?;
            done(json, format!("{node} is active again"));
            Ok(())
        }
        Cmd::Node(NodeCmd::Token {
            ttl,
            via,
            list,
            revoke,
        }) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if *list {
                let tokens = connect()?.token_list(now)?;
                out(json, &tokens, || {
                    tokens
                        .iter()
                        .map(|t| {
                            format!(
                                "{:<10} {:<8} expires {}{}\n",
                                t.id,
                                t.state,
                                t.expires,
                                t.used_by
                                    .as_ref()
                                    .map(|b| format!("  used by {b}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect()
                });
                return Ok(());
            }
            if let Some(id) = revoke {
                let t = connect()?.token_revoke(id)?;
                done(json, format!("revoked token {}", t.id));
                return Ok(());
            }
            let t = connect()?.token_make(ttl, via.as_deref(), now)?;
            // The token alone on standard output (TOKEN=$(pigeonctl node token)); the note
            // for people on standard error.
            out(json, &t, || format!("{}\n", t.token));
            if !json {
                eprintln!(
                    "token {} joins through {} until {} (UTC); one node may use it, once: \
                     put it in the new node's answers as [cluster] join = \"TOKEN\"",
                    t.id, t.via, t.expires
                );
            }
            Ok(())
        }
        Cmd::Domain(cmd) => match cmd {
            DomainCmd::Add { name, alias_of } => {
                let d = domain_arg(name)?;
                let target = optional_domain(alias_of)?;
                connect()?.domain_add(&d, target.as_ref())?;
                done(json, format!("added domain {d}"));
                Ok(())
            }
            DomainCmd::List => {
                let list = connect()?.domain_list()?;
                out(json, &list, || {
                    list.iter()
                        .map(|d| {
                            format!(
                                "{:<32} {:<8} {:>6} users {:>6} aliases{}\n",
                                d.name,
                                d.status,
                                d.users,
                                d.aliases,
                                d.alias_of
                                    .as_ref()
                                    .map(|a| format!("  alias of {a}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect()
                });
                Ok(())
            }
            DomainCmd::Show { name } => {
                let name = domain_arg(name)?;
                let d = connect()?.domain_show(&name)?;
                out(json, &d, || {
                    format!(
                        "domain:  {}\nstatus:  {}\nusers:   {}\naliases: {}\n{}",
                        d.name,
                        d.status,
                        d.users,
                        d.aliases,
                        d.alias_of
                            .as_ref()
                            .map(|a| format!("alias of: {a}\n"))
                            .unwrap_or_default()
                    )
                });
                Ok(())
            }
            DomainCmd::Disable { name } | DomainCmd::Enable { name } => {
                let active = matches!(cmd, DomainCmd::Enable { .. });
                let d = domain_arg(name)?;
                connect()?.domain_set_status(&d, active)?;
                done(
                    json,
                    format!("domain {d} {}", if active { "enabled" } else { "disabled" }),
                );
                Ok(())
            }
            DomainCmd::Remove {
                name,
                with_users,
                grace,
            } => {
                let d = domain_arg(name)?;
                let purge_after = unix_now() + grace_secs(grace)?;
                let users = connect()?.domain_remove(&d, *with_users, purge_after)?;
                done(json, format!("removed domain {d} ({users} user(s))"));
                Ok(())
            }
        },
        Cmd::User(cmd) => match cmd {
            UserCmd::Add {
                address,
                name,
                quota,
                node,
                password,
            } => {
                let a = address_arg(address)?;
                let q = quota_arg(quota)?;
                let (pw, random) = new_password(password)?;
                let user = connect()?.user_add(&a, name.as_deref(), q, &pw, node.as_deref())?;
                let shown = random.then_some(pw);
                out(
                    json,
                    &serde_json::json!({ "user": user, "password": shown }),
                    || {
                        let mut t = format!(
                            "added {} (uid {}, home node {}, quota {})\n",
                            user.address, user.uid, user.home_node, user.quota
                        );
                        if let Some(p) = &shown {
                            t.push_str(&format!("password: {p}\n"));
                        }
                        t
                    },
                );
                Ok(())
            }
            UserCmd::List { domain } => {
                let d = optional_domain(domain)?;
                let users = connect()?.user_list(d.as_ref())?;
                out(json, &users, || {
                    users
                        .iter()
                        .map(|u| {
                            format!(
                                "{:<40} {:<8} {:>9} {}\n",
                                u.address, u.status, u.quota, u.home_node
                            )
                        })
                        .collect()
                });
                Ok(())
            }
            UserCmd::Show { address } => {
                let address = address_arg(address)?;
                let u = connect()?.user_show(&address)?;
                out(json, &u, || {
                    format!(
                        "address:    {}\nname:       {}\nstatus:     {}\nquota:      {}\nuid:        {}\nmailbox id: {}\nhome node:  {}\nservices:   {}\nforward to: {}\n",
                        u.address,
                        u.name,
                        u.status,
                        u.quota,
                        u.uid,
                        u.mailbox_id,
                        u.home_node,
                        u.services.join(" "),
                        u.forward_to.join(" ")
                    ) + &u.moving.as_ref().map_or(String::new(), |m| {
                        format!(
                            "move:       {} {}{}\n",
                            m.state.as_deref().unwrap_or("asked for"),
                            m.to.as_deref().map_or(String::new(), |t| format!("to {t}")),
                            m.detail
                                .as_deref()
                                .map_or(String::new(), |d| format!(" ({d})"))
                        )
                    })
                });
                Ok(())
            }
            UserCmd::Passwd { address, password } => {
                let a = address_arg(address)?;
                let (pw, random) = new_password(password)?;
                connect()?.user_passwd(&a, &pw)?;
                let shown = random.then_some(pw);
                out(
                    json,
                    &serde_json::json!({ "done": format!("password of {a} set"), "password": shown }),
                    || match &shown {
                        Some(p) => format!("password of {a} set: {p}\n"),
                        None => format!("password of {a} set\n"),
                    },
                );
                Ok(())
            }
            UserCmd::Disable { address } | UserCmd::Enable { address } => {
                let active = matches!(cmd, UserCmd::Enable { .. });
                let a = address_arg(address)?;
                connect()?.user_set_status(&a, active)?;
                done(
                    json,
                    format!("user {a} {}", if active { "enabled" } else { "disabled" }),
                );
                Ok(())
            }
            UserCmd::Quota { address, quota } => {
                let a = address_arg(address)?;
                let q = quota_arg(quota)?;
                connect()?.user_quota(&a, q)?;
                done(json, format!("quota of {a} set to {}", q.human()));
                Ok(())
            }
            UserCmd::Rename { old, new, no_alias } => {
                let (o, n) = (address_arg(old)?, address_arg(new)?);
                let user = connect()?.user_rename(&o, &n, !no_alias)?;
                let note = if *no_alias {
                    ""
                } else {
                    "; the old address is now an alias of it"
                };
                out(json, &user, || {
                    format!("renamed {o} to {}{note}\n", user.address)
                });
                Ok(())
            }
            UserCmd::Forward {
                address,
                to,
                keep_copy,
                off,
            } => {
                let a = address_arg(address)?;
                let targets = if *off { Vec::new() } else { addresses(to)? };
                let user = connect()?.user_forward(&a, &targets, *keep_copy)?;
                out(json, &user, || {
                    if user.forward_to.is_empty() {
                        format!("{a}: no forwarding\n")
                    } else {
                        format!("{a} forwards to {}\n", user.forward_to.join(", "))
                    }
                });
                Ok(())
            }
            UserCmd::Move {
                address,
                to,
                cancel,
                no_wait,
                timeout,
            } => {
                let a = address_arg(address)?;
                let limit = pigeonair_join::time::parse_ttl(timeout)
                    .map_err(|e| CtlError::Invalid(format!("--timeout {timeout:?}: {e}")))?;
                let mut dir = connect()?;
                if *cancel {
                    dir.user_move_cancel(&a)?;
                    done(json, format!("the move of {a} is cancelled"));
                    return Ok(());
                }
                let to = to.as_deref().expect("clap requires --to without --cancel");
                dir.user_move(&a, to)?;
                if *no_wait {
                    done(json, format!("the move of {a} to {to} is asked for"));
                    return Ok(());
                }
                wait_for_move(&mut dir, &connect, &a, to, Duration::from_secs(limit), json)
            }
            UserCmd::Remove {
                address,
                purge,
                grace,
            } => {
                let a = address_arg(address)?;
                let keep = if *purge { 0 } else { grace_secs(grace)? };
                let purge_after = unix_now() + keep;
                let mut dir = connect()?;
                let u = dir.user_remove(&a, purge_after)?;
                if *purge {
                    if !dir.wait_purged(&a, Duration::from_secs(60))? {
                        return Err(CtlError::Failed(format!(
                            "removed {a}, but its home node {} has not deleted the mailbox \
                             within 60 s (it will when its pigeonaird runs)",
                            u.home_node
                        )));
                    }
                    done(
                        json,
                        format!("removed {a} and deleted its mailbox on {}", u.home_node),
                    );
                } else {
                    done(
                        json,
                        format!(
                            "removed {a}; its mailbox {} stays on {} until {} \
                             (`pigeonctl user restore {a}` brings it back)",
                            u.mailbox_id,
                            u.home_node,
                            pigeonair_join::time::to_generalized(purge_after)
                        ),
                    );
                }
                Ok(())
            }
            UserCmd::Restore { address } => {
                let a = address_arg(address)?;
                let u = connect()?.user_restore(&a)?;
                done(
                    json,
                    format!("restored {a}, with its mailbox on {}", u.home_node),
                );
                Ok(())
            }
        },
        Cmd::Alias(cmd) => match cmd {
            AliasCmd::Add { address, targets } => {
                let a = address_arg(address)?;
                let t = addresses(targets)?;
                let alias = connect()?.alias_add(&a, &t)?;
                out(json, &alias, || {
                    format!("{} → {}\n", alias.address, alias.targets.join(", "))
                });
                Ok(())
            }
            AliasCmd::Remove { address, targets } => {
                let a = address_arg(address)?;
                let t = addresses(targets)?;
                connect()?.alias_remove(&a, &t)?;
                done(json, format!("alias {a} updated"));
                Ok(())
            }
            AliasCmd::List { domain } => {
                let d = optional_domain(domain)?;
                let list = connect()?.alias_list(d.as_ref())?;
                out(json, &list, || {
                    list.iter()
                        .map(|a| format!("{:<40} → {}\n", a.address, a.targets.join(", ")))
                        .collect()
                });
                Ok(())
            }
        },
    }
}
