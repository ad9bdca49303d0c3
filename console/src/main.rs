//! `pigeonair-console`: run as root on any node.

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use pigeonair_console::App;
use pigeonair_console::tui::{self, Settings};

#[derive(Parser)]
#[command(
    name = "pigeonair-console",
    version,
    about = "The PigeonAir cluster live: nodes, health, replication, queues, journals; add, drain, remove nodes, move mailboxes, rebalance"
)]
struct Cli {
    /// Draw borders with ASCII (the default on vt* and dumb terminals and non-UTF-8 locales).
    #[arg(long)]
    ascii: bool,
    /// Seconds between refreshes of the nodes' status (a node's entry changing in the
    /// directory refreshes at once).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=3600))]
    refresh: u64,
    /// Journal lines fetched for the selected node (at most 10000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10000))]
    journal_lines: u64,
}

fn main() -> ExitCode {
    pigeonair_docs::write_if_asked(Cli::command);
    let cli = Cli::parse();
    // Serial terminals (vt100, vt220) and non-UTF-8 locales get ASCII borders, as in the
    // installer.
    let term = std::env::var("TERM").unwrap_or_default();
    let locale = std::env::var("LC_ALL")
        .or_else(|_| std::env::var("LANG"))
        .unwrap_or_default();
    let ascii = cli.ascii
        || term.starts_with("vt")
        || term == "dumb"
        || !locale.to_ascii_lowercase().contains("utf");
    let local = pigeonair_control::server::listen_address()
        .map(|(_, host)| host)
        .ok();
    let settings = Settings {
        refresh: Duration::from_secs(cli.refresh),
        journal_lines: cli.journal_lines as usize,
        local,
    };
    match tui::run(App::new().with_ascii_borders(ascii), settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pigeonair-console: the terminal: {e}");
            ExitCode::FAILURE
        }
    }
}
