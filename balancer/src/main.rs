//! `pigeonair-balancer`: the daemon (`run`), its `status`, `check-config` and `zone-export`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use pigeonair_balancer::config::{self, Config, Mode};
use pigeonair_balancer::daemon::{self, DEFAULT_STATE_DIR, Options};
use pigeonair_balancer::ipvs::socket::IpvsSocket;
use pigeonair_balancer::status::{self, DEFAULT_STATUS_PATH, Status};

#[derive(Parser)]
#[command(
    name = "pigeonair-balancer",
    about = "Spreads SMTP, IMAP and POP3 over PigeonAir's nodes: IPVS or health-checked DNS"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (systemd starts it as pigeonair-balancer.service).
    Run {
        /// The desired state; re-read when it changes.
        #[arg(long, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Where the status is written.
        #[arg(long, default_value = DEFAULT_STATUS_PATH)]
        status_file: PathBuf,
        /// Where the services the balancer owns are remembered.
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Show services, real servers, health, weights and connections.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The daemon's status file.
        #[arg(long, default_value = DEFAULT_STATUS_PATH)]
        status_file: PathBuf,
    },
    /// Check a config file without applying it; every problem is listed.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Print the DNS zone (BIND format) for ISPs that run their own DNS servers.
    ZoneExport {
        /// The config (mode = "dns").
        #[arg(long, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The SOA serial.
        #[arg(long, default_value_t = 1)]
        serial: u32,
    },
}

fn init_logging() {
    pigeonair_host::init_daemon_logging("pigeonair-balancer");
}

fn read_config(path: &PathBuf) -> Result<Config, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("pigeonair-balancer: {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    Config::parse(&text).map_err(|e| {
        for p in &e.problems {
            eprintln!("{}: {}: {}", path.display(), p.field, p.message);
        }
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    pigeonair_docs::write_if_asked(Cli::command);
    match Cli::parse().command {
        Cmd::Run {
            config,
            status_file,
            state_dir,
        } => {
            init_logging();
            match daemon::run(Options {
                config,
                status: status_file,
                state_dir,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::CheckConfig { file } => match read_config(&file) {
            Ok(_) => {
                println!("{}: good", file.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Cmd::ZoneExport { config, serial } => match read_config(&config) {
            Ok(c) => match &c.mode {
                Mode::Dns(d) => {
                    print!(
                        "{}",
                        pigeonair_balancer::dns::zone_text(d, &c.nodes, serial)
                    );
                    ExitCode::SUCCESS
                }
                Mode::Ipvs(_) => {
                    eprintln!(
                        "pigeonair-balancer: {}: mode is \"ipvs\"; a zone export needs mode = \"dns\" and its [dns] table",
                        config.display()
                    );
                    ExitCode::from(2)
                }
            },
            Err(code) => code,
        },
        Cmd::Status { json, status_file } => {
            let text = match std::fs::read_to_string(&status_file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "pigeonair-balancer: {}: {e}: is the daemon running? (systemctl status pigeonair-balancer)",
                        status_file.display()
                    );
                    return ExitCode::from(3);
                }
            };
            let mut st: Status = match serde_json::from_str(&text) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("pigeonair-balancer: {}: {e}", status_file.display());
                    return ExitCode::from(1);
                }
            };
            if !std::path::Path::new(&format!("/proc/{}", st.pid)).exists() {
                eprintln!(
                    "pigeonair-balancer: the daemon (pid {}) is not running; last status follows",
                    st.pid
                );
            }
            if st.mode == "ipvs" {
                // Live counters: the status file is as old as the last change.
                if let Ok(table) = IpvsSocket::open().and_then(|mut s| s.table()) {
                    let live = daemon::kernel_rows(&table);
                    for r in &mut st.rows {
                        match live.get(&(r.service.clone(), r.address.clone())) {
                            Some((w, a, i)) => {
                                r.weight = Some(*w);
                                r.active_conns = Some(*a);
                                r.inactive_conns = Some(*i);
                            }
                            None => {
                                r.weight = None;
                                r.active_conns = None;
                                r.inactive_conns = None;
                            }
                        }
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&st).expect("serializes"));
            } else {
                print!("{}", status::render(&st));
            }
            ExitCode::SUCCESS
        }
    }
}
