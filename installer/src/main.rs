//! `pigeonair-install --answers FILE`: installs this node unattended from an answers file
//! (`-` reads it from standard input, so a clear-text password never touches the disk).
//! A progress line per step goes to the terminal; the same lines go to the journal.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pigeonair_appliance::parse_answers;
use pigeonair_installer::apply::{self, Options};

#[derive(Parser)]
#[command(version, about = "Install this box as a PigeonAir node")]
struct Cli {
    /// The answers file (TOML; see README, "The answers file"); `-` reads standard input.
    #[arg(long)]
    answers: Option<PathBuf>,
    /// Print what would change (files as a diff) and change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Ok(journal) = systemd_journal_logger::JournalLog::new() {
        let _ = journal
            .with_syslog_identifier("pigeonair-install".into())
            .install();
        log::set_max_level(log::LevelFilter::Info);
    }
    let Some(path) = cli.answers else {
        eprintln!(
            "pigeonair-install: --answers FILE is required (this version installs unattended only)"
        );
        return ExitCode::from(2);
    };
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("pigeonair-install: reading the answers from standard input: {e}");
            return ExitCode::from(2);
        }
        s
    } else {
        match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pigeonair-install: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    };
    let plan = match parse_answers(&text) {
        Ok(plan) => plan,
        Err(e) => {
            let source = if path.as_os_str() == "-" {
                "answers".to_owned()
            } else {
                path.display().to_string()
            };
            eprintln!("pigeonair-install: {source} is not valid; nothing was changed:");
            for line in e.to_string().lines() {
                eprintln!("  {line}");
            }
            log::error!("answers rejected: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = Options {
        dry_run: cli.dry_run,
    };
    let mut print = |line: &str| println!("{line}");
    match apply::install(&plan, &opts, &mut print) {
        Ok(report) => {
            let verb = if cli.dry_run {
                "would change"
            } else {
                "changed"
            };
            println!("{} {verb}", report.changes.len());
            log::info!("{} {verb}", report.changes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pigeonair-install: {e}");
            log::error!("install failed: {e}");
            ExitCode::FAILURE
        }
    }
}
