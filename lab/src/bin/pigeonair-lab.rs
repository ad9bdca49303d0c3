//! `pigeonair-lab`: runs PigeonAir appliance nodes on this machine. See README.md, "The lab".

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pigeonair_lab::names::LabName;
use pigeonair_lab::node::LAUNCH_SUBCOMMAND;
use pigeonair_lab::state::LabDirs;
use pigeonair_lab::{Cancel, DEFAULT_ANSWERS, Lab, LabError, UpOptions, UpOutcome, cgroup};

#[derive(Parser)]
#[command(
    version,
    about = "Run PigeonAir appliance nodes (systemd-nspawn) on a public and a private network"
)]
struct Cli {
    /// The lab's name; it prefixes every namespace, cgroup and directory the lab makes.
    #[arg(long, global = true, default_value = "lab", value_parser = parse_lab)]
    name: LabName,
    #[command(subcommand)]
    command: Cmd,
}

fn parse_lab(s: &str) -> Result<LabName, String> {
    LabName::try_new(s).map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum Cmd {
    /// Build or refresh the image if needed, boot the nodes, wait until each has booted.
    Up {
        /// Number of nodes (node1 … nodeN).
        #[arg(long, default_value_t = 1)]
        nodes: u32,
        /// Directory of PigeonAir .deb files to install into the image
        /// [default: this workspace's target/debian].
        #[arg(long)]
        debs: Option<PathBuf>,
        /// Seconds each node may take to boot.
        #[arg(long, default_value_t = 60)]
        boot_timeout: u64,
        /// Install node1 with this answers file [default: the shipped example,
        /// appliance/core/examples/single-box.toml, whose addresses are node1's].
        #[arg(long, conflicts_with = "bare")]
        answers: Option<PathBuf>,
        /// Boot the nodes as a fresh box is before installation (PigeonAir's package is there,
        /// nothing is configured): run `pigeonair-install` inside to install interactively.
        #[arg(long, alias = "no-install")]
        bare: bool,
    },
    /// Show the nodes, their addresses on both networks and their system state.
    Status {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node (its namespaces, mounts and root).
    Exec {
        /// node1 … nodeN.
        node: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Run a command at the client address on the public network.
    Client {
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Install freshly built PigeonAir packages into every running node (and the image).
    Refresh {
        /// Directory of PigeonAir .deb files [default: this workspace's target/debian].
        #[arg(long)]
        debs: Option<PathBuf>,
    },
    /// Boot more nodes into the running lab and join them to node1's cluster (a token from
    /// node1's pigeonctl, join answers, pigeonair-install on each new node).
    Add {
        /// How many nodes.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Leave them as fresh boxes (to join by hand, or from the installer's screens).
        #[arg(long)]
        bare: bool,
        /// The member that makes the tokens (they name it) and serves the joins, e.g. node2
        /// while node1 is down; other nodes may then be down.
        #[arg(long, value_name = "NODE", conflicts_with = "bare")]
        via: Option<String>,
        /// Seconds each node may take to boot.
        #[arg(long, default_value_t = 60)]
        boot_timeout: u64,
    },
    /// Take a node out of the cluster as an operator does (node1's `pigeonctl node drain`,
    /// then `node remove`): its mailboxes move to the others, its certificates are revoked,
    /// and it stays booted as a fresh box.
    Remove {
        /// node2 … nodeN.
        node: String,
    },
    /// Cut a node's power: every process of it killed at once (nothing shut down cleanly),
    /// its links down; its disk is kept for `start`.
    Kill {
        /// node1 … nodeN.
        node: String,
    },
    /// Power a killed node on again: it boots from its own disk.
    Start {
        /// node1 … nodeN.
        node: String,
        /// Seconds the node may take to boot.
        #[arg(long, default_value_t = 60)]
        boot_timeout: u64,
    },
    /// Stop every node and remove everything the lab made (running it twice is fine).
    Down,
}

/// `target/debian` of this workspace, where `cargo deb` puts PigeonAir's packages.
fn default_debs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debian")
}

fn main() -> ExitCode {
    // The hidden launcher: join the node's cgroup, then become systemd-nspawn.
    // Arguments may be any bytes (exec passes them on): only the launcher's must be UTF-8.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).and_then(|a| a.to_str()) == Some(LAUNCH_SUBCOMMAND) {
        let args: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return launch(&args);
    }
    let cli = Cli::parse();
    let lab = Lab::new(LabDirs::from_env(), cli.name);
    match run(&lab, cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pigeonair-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(lab: &Lab, cmd: Cmd) -> Result<ExitCode, LabError> {
    let mut out = std::io::stdout();
    match cmd {
        Cmd::Up {
            nodes,
            debs,
            boot_timeout,
            answers,
            bare,
        } => {
            let answers =
                match (bare, answers) {
                    (true, _) => None,
                    (false, None) => Some(DEFAULT_ANSWERS.to_owned()),
                    (false, Some(path)) => Some(std::fs::read_to_string(&path).map_err(
                        |source| LabError::Io {
                            path: path.clone(),
                            source,
                        },
                    )?),
                };
            let cancel = Cancel::on_signals().map_err(|source| LabError::Io {
                path: "signal handlers".into(),
                source,
            })?;
            let opts = UpOptions {
                answers,
                cancel,
                nodes,
                debs: debs.unwrap_or_else(default_debs),
                boot_timeout: Duration::from_secs(boot_timeout),
            };
            let installed = opts.answers.clone();
            match lab.up(&opts, &mut out)? {
                UpOutcome::Started(status) => {
                    print!("{}", status.render());
                    if let Some(answers) = installed {
                        print_how_to_use(lab, &answers);
                    }
                }
                UpOutcome::AlreadyUp(status) => {
                    println!("lab {} is already up: nothing changed", lab.name());
                    print!("{}", status.render());
                }
            }
        }
        Cmd::Status { json } => {
            let status = lab.status()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("status serialises")
                );
            } else {
                print!("{}", status.render());
            }
        }
        Cmd::Exec { node, command } => return Ok(pass_through(lab.exec_command(&node, &command)?)),
        Cmd::Client { command } => return Ok(pass_through(lab.client_command(&command)?)),
        Cmd::Refresh { debs } => lab.refresh(&debs.unwrap_or_else(default_debs), &mut out)?,
        Cmd::Remove { node } => {
            lab.remove(&node, &mut out)?;
        }
        Cmd::Kill { node } => lab.kill(&node, &mut out)?,
        Cmd::Start { node, boot_timeout } => {
            let cancel = Cancel::on_signals().map_err(|source| LabError::Io {
                path: "signal handlers".into(),
                source,
            })?;
            let status =
                lab.power_on(&node, Duration::from_secs(boot_timeout), &cancel, &mut out)?;
            // Not print!: a reader that has gone (`| head`) is no reason to panic.
            let _ = write!(std::io::stdout(), "{}", status.render());
        }
        Cmd::Add {
            count,
            bare,
            via,
            boot_timeout,
        } => {
            let cancel = Cancel::on_signals().map_err(|source| LabError::Io {
                path: "signal handlers".into(),
                source,
            })?;
            let status = lab.add(
                count,
                bare,
                via.as_deref(),
                Duration::from_secs(boot_timeout),
                &cancel,
                &mut out,
            )?;
            print!("{}", status.render());
        }
        Cmd::Down => lab.down(&mut out)?,
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// After an install: how to send node1 a message and read it back from the client address.
fn print_how_to_use(lab: &Lab, answers: &str) {
    let Ok(plan) = pigeonair_appliance::parse_answers(answers) else {
        return;
    };
    let me = std::env::args()
        .next()
        .unwrap_or_else(|| "pigeonair-lab".into());
    let name = match lab.name().as_str() {
        "lab" => String::new(),
        other => format!(" --name {other}"),
    };
    let ip = plan.public.address.addr();
    let user = format!("postmaster@{}", plan.domain);
    // The tests' mail client, tests/clients/mailclient.py in this workspace.
    let client = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."))
        .join("tests/clients/mailclient.py");
    println!(
        "\nnode1 is a PigeonAir mail system: {} ({ip}). From the client address,\n\
         send {user} a message:\n  {me}{name} client -- swaks --server {ip} --to {user} --from you@client.example\n\
         and read it back over IMAPS (PASSWORD is admin.password of the answers file):\n  \
         {me}{name} client -- python3 {} imap {ip} 993 tls {user} PASSWORD",
        plan.hostname,
        client.display()
    );
}

/// Runs `cmd` with our standard input and output; its exit code becomes ours.
fn pass_through(mut cmd: std::process::Command) -> ExitCode {
    match cmd.status() {
        Ok(status) => ExitCode::from(
            status
                .code()
                .map(|c| c as u8)
                .unwrap_or(128 + status_signal(&status)),
        ),
        Err(e) => {
            eprintln!("pigeonair-lab: could not run {:?}: {e}", cmd.get_program());
            ExitCode::FAILURE
        }
    }
}

fn status_signal(status: &std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().map(|s| s as u8).unwrap_or(1)
}

/// `__launch CGROUP -- PROGRAM ARGS…`: moves itself into CGROUP, then execs PROGRAM.
fn launch(args: &[String]) -> ExitCode {
    let (Some(cg), Some("--"), Some(program)) =
        (args.first(), args.get(1).map(String::as_str), args.get(2))
    else {
        eprintln!("pigeonair-lab {LAUNCH_SUBCOMMAND}: usage: CGROUP -- PROGRAM ARGS…");
        return ExitCode::FAILURE;
    };
    if let Err(e) = cgroup::enter(std::path::Path::new(cg)) {
        eprintln!("pigeonair-lab: cannot join the node's cgroup {cg}: {e}");
        return ExitCode::FAILURE;
    }
    let err = std::process::Command::new(program).args(&args[3..]).exec();
    eprintln!("pigeonair-lab: cannot run {program}: {err}");
    ExitCode::FAILURE
}
