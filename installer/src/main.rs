//! `pigeonair-install`: the interactive installer (a few screens, then the install); with
//! `--answers FILE` it installs unattended (`-` reads standard input, so a clear-text password
//! never touches the disk), and with `--answers FILE --review` it opens the screens prefilled
//! (a new cluster's, a joining node's or a joined node's answers).
//! A progress line per step goes to the terminal; the same lines go to the journal.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use pigeonair_appliance::answers::Answers;
use pigeonair_appliance::plan::{AdminPassword, Plan};
use pigeonair_installer::apply::{self, Options};
use pigeonair_installer::disk::{install, probe};
use pigeonair_installer::runner;
use pigeonair_installer::tui::form::Form;
use pigeonair_installer::tui::{App, Outcome, interfaces, terminal};

#[derive(Parser)]
#[command(
    name = "pigeonair-install",
    version,
    about = "Install this box as a PigeonAir node"
)]
struct Cli {
    /// The answers file (TOML; see README, "The answers file"); `-` reads standard input.
    #[arg(long)]
    answers: Option<PathBuf>,
    /// Print what would change (files as a diff) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --answers: open the interactive installer prefilled, to review and confirm.
    #[arg(long, requires = "answers")]
    review: bool,
    /// Where the interactive installer saves the answers file.
    #[arg(long, default_value = "/root/pigeonair-answers.toml")]
    save: PathBuf,
    /// On the install medium: install to disk with the answers on a drive labelled PIGEONAIR
    /// (`answers.toml`), then reboot; without such a drive, do nothing.
    #[arg(long, conflicts_with_all = ["answers", "review", "dry_run"])]
    unattended: bool,
    /// With --unattended: also print the progress on this terminal (`/dev/tty1`).
    #[arg(long, requires = "unattended")]
    mirror_to: Vec<PathBuf>,
}

fn main() -> ExitCode {
    pigeonair_docs::write_if_asked(Cli::command);
    let cli = Cli::parse();
    if let Ok(journal) = systemd_journal_logger::JournalLog::new() {
        let _ = journal
            .with_syslog_identifier("pigeonair-install".into())
            .install();
        log::set_max_level(log::LevelFilter::Info);
    }
    if cli.unattended {
        let mut console = pigeonair_installer::disk::unattended::Console::new(&cli.mirror_to);
        return match pigeonair_installer::disk::unattended::run(&mut console) {
            pigeonair_installer::disk::unattended::Ended::Stopped => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        };
    }
    let Some(path) = cli.answers.clone() else {
        return interactive(None, None, &cli);
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
    if cli.review {
        // `[disk]` is only the raw answers' (the plan has no disk): the target disk screen
        // shows it, on the install medium.
        let disk = pigeonair_appliance::answers::parse_raw(&text)
            .ok()
            .and_then(|raw| raw.disk);
        return match pigeonair_installer::join::parse(&text) {
            Ok(answers) => interactive(Some(answers), disk, &cli),
            Err(e) => {
                eprintln!("pigeonair-install: {} is not valid:\n{e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    let answers = match pigeonair_installer::join::parse(&text) {
        Ok(a) => a,
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
    let plan = match answers {
        Answers::Install(plan) => plan,
        Answers::Join(j) => {
            let mut print = |line: &str| {
                println!("{line}");
                log::info!("{line}");
            };
            match pigeonair_installer::join::plan_for(&j, cli.dry_run, &mut print) {
                Ok(Some(plan)) => plan,
                Ok(None) => return ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pigeonair-install: the join failed; nothing was changed here: {e}");
                    log::error!("join failed: {e}");
                    return match e {
                        pigeonair_installer::join::JoinFailure::Answers(_) => ExitCode::from(2),
                        _ => ExitCode::FAILURE,
                    };
                }
            }
        }
    };
    apply_plan(&plan, cli.dry_run)
}

/// The interactive installer: the screens; on confirmation the answers file is saved (the
/// password as a hash) and the same install as `--answers` runs, its steps shown on screen. A
/// joining node checks the member and joins first, as `--answers` does with join answers.
/// On the install medium a new cluster's first node is installed to a disk chosen on the
/// target disk screen (`disk`: a reviewed answers file's `[disk]`), as the unattended install
/// does, and the done screen reboots into it.
fn interactive(
    review: Option<Answers>,
    disk: Option<pigeonair_appliance::disk::RawDisk>,
    cli: &Cli,
) -> ExitCode {
    // Serial terminals (vt100, vt220) and non-UTF-8 locales get ASCII borders.
    let term = std::env::var("TERM").unwrap_or_default();
    let locale = std::env::var("LC_ALL")
        .or_else(|_| std::env::var("LANG"))
        .unwrap_or_default();
    let ascii =
        term.starts_with("vt") || term == "dumb" || !locale.to_ascii_lowercase().contains("utf");
    let mut app = App::new(interfaces::discover(), cli.save.clone()).with_ascii_borders(ascii);
    match &review {
        Some(Answers::Install(plan)) => {
            app = app.reviewing(Form::from_plan(plan));
            if let Some(AdminPassword::Hash(h)) = plan.admin_password() {
                app.password_hash = Some(h.clone());
            }
        }
        Some(Answers::Join(j)) => app = app.reviewing(Form::from_join(j)),
        None => {}
    }
    if probe::on_install_medium() {
        let disks = probe::discover().unwrap_or_else(|e| {
            // The target disk screen then lists none, and the validator says so.
            eprintln!("pigeonair-install: {e}");
            log::error!("{e}");
            Vec::new()
        });
        app = app.on_medium(disks);
        if let Some(disk) = &disk {
            app.form.set_raw_disk(disk);
        }
    }
    let save = cli.save.clone();
    match terminal::run(app, |request| runner::start(request, &save)) {
        Ok(Outcome::Done) => {
            println!(
                "pigeonair-install: installed; answers saved to {} (repeat unattended: pigeonair-install --answers {})",
                cli.save.display(),
                cli.save.display()
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::Reboot) => {
            println!("pigeonair-install: installed to disk; rebooting into it");
            match install::reboot() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pigeonair-install: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(_) => {
            println!("pigeonair-install: quit");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pigeonair-install: the terminal failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn apply_plan(plan: &Plan, dry_run: bool) -> ExitCode {
    let opts = Options { dry_run };
    let mut print = |event: &apply::Event| println!("{event}");
    match apply::install(plan, &opts, &mut print) {
        Ok(report) => {
            let verb = if dry_run { "would change" } else { "changed" };
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
