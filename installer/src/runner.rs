//! The interactive installer's runner: carries out what the wizard asks
//! ([`App::take_request`](crate::tui::App::take_request)) — check the member a join token
//! names, join, install — each on a thread of its own, and reports back over a channel
//! ([`Report`]). The wizard stays pure; this is its IO. The join and the install are the
//! unattended install's own ([`crate::join::plan_for`], [`crate::apply::install`]); an install
//! to disk from the medium is the unattended one's too ([`crate::disk::install::install`]).

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};

use pigeonair_appliance::answers::{JoinAnswers, to_toml};
use pigeonair_appliance::crypt::sha512_crypt;
use pigeonair_appliance::plan::{AdminPassword, Plan, Role};
use pigeonair_control::client::JoinError;
use pigeonair_join::Token;

use crate::apply::{self, Options};
use crate::disk::install as disk_install;
use crate::disk::probe::LIVE_MEDIUM;
use crate::join::{self, JoinFailure};
use crate::tui::{DiskInstall, Introduction, Outcome, Report};

/// Starts what `request` asks; the interactive installer saves answers to `save`. A request
/// that needs nothing done (quit, done) gives a channel with nothing in it.
pub fn start(request: Outcome, save: &Path) -> Receiver<Report> {
    let (tx, rx) = channel();
    let save = save.to_owned();
    match request {
        Outcome::Check(token) => {
            std::thread::spawn(move || check(&token, &tx));
        }
        Outcome::Join(answers) => {
            std::thread::spawn(move || join_and_install(&answers, &save, &tx));
        }
        Outcome::Install(plan) => {
            std::thread::spawn(move || {
                let result = save_and_install(*plan, &save, &tx);
                finish(result, &tx);
            });
        }
        Outcome::InstallToDisk(install) => {
            std::thread::spawn(move || {
                let result = save_and_install_to_disk(*install, &save, &tx);
                finish(result, &tx);
            });
        }
        Outcome::Quit | Outcome::Done | Outcome::Reboot => {}
    }
    rx
}

fn check(token: &Token, tx: &Sender<Report>) {
    let met = join::introduce(token)
        .map(|met| Introduction {
            via: token.via,
            cluster: met.hello.cluster,
            member: met.hello.hostname,
            ca: met.ca,
        })
        .map_err(|e| e.to_string());
    if let Err(e) = &met {
        log::warn!("join: checking the member at {}: {e}", token.via);
    }
    let _ = tx.send(Report::Checked(met));
}

fn join_and_install(answers: &JoinAnswers, save: &Path, tx: &Sender<Report>) {
    let mut note = |line: &str| {
        log::info!("{line}");
        let _ = tx.send(Report::Progress(apply::Event::Note(line.to_owned())));
    };
    let plan = match join::plan_for(answers, false, &mut note) {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            return finish(Err("the join gave no plan".into()), tx);
        }
        Err(e) if nothing_written(&e) => {
            log::error!("join failed: {e}");
            let _ = tx.send(Report::JoinFailed(e.to_string()));
            return;
        }
        Err(e) => return finish(Err(e.to_string()), tx),
    };
    let _ = tx.send(Report::Joined(Box::new(plan.clone())));
    let result = save_and_install(plan, save, tx);
    finish(result, tx);
}

/// Whether a failed join wrote nothing, here or on the member: the answers were refused
/// before anything was sent, the member could not be reached or trusted, or it refused (it
/// decides every refusal before it writes). An answer that could not be read or kept is
/// not such a failure: the member may have claimed the token.
fn nothing_written(e: &JoinFailure) -> bool {
    match e {
        JoinFailure::Answers(_) => true,
        JoinFailure::Join(JoinError::Protocol { .. }) => false,
        JoinFailure::Join(_) => true,
        JoinFailure::Keep(_) => false,
    }
}

/// The plan as saved (a first node's password as a hash; a joined node's the join's plan, no
/// token) and the answers file's text.
fn saved(plan: Plan) -> (Plan, String) {
    let (plan, hash) = match plan.role {
        Role::First { admin_password } => {
            let hash = match admin_password {
                AdminPassword::Hash(h) => h,
                AdminPassword::Clear(p) => sha512_crypt(&p),
            };
            let role = Role::First {
                admin_password: AdminPassword::Hash(hash.clone()),
            };
            (Plan { role, ..plan }, hash)
        }
        Role::Joined { .. } => (plan, String::new()),
    };
    let text = to_toml(&plan, &hash);
    (plan, text)
}

/// The answers an install to disk saves and leaves for the first boot: the plan (the password
/// as a hash) and `[disk]`, so `--review` on the medium shows the same disk.
pub fn disk_answers(install: &DiskInstall) -> String {
    let (_, text) = saved(install.plan.clone());
    format!("{text}\n{}", install.raw.to_toml())
}

fn save_answers(text: &str, save: &Path, tx: &Sender<Report>) -> Result<(), String> {
    std::fs::write(save, text)
        .map_err(|e| format!("saving the answers file {}: {e}", save.display()))?;
    let _ = tx.send(Report::Progress(apply::Event::Note(format!(
        "answers saved to {}",
        save.display()
    ))));
    Ok(())
}

/// Saves the answers file, then installs.
fn save_and_install(plan: Plan, save: &Path, tx: &Sender<Report>) -> Result<usize, String> {
    let (plan, text) = saved(plan);
    save_answers(&text, save, tx)?;
    let mut out = |event: &apply::Event| {
        let _ = tx.send(Report::Progress(event.clone()));
    };
    apply::install(&plan, &Options::default(), &mut out)
        .map(|r| r.changes.len())
        .map_err(|e| e.to_string())
}

/// Saves the answers file with `[disk]`, then installs to the disk as the unattended install
/// does, leaving the answers for the installed system's first boot. The reboot is staff's,
/// from the done screen. `Ok`: the steps run.
fn save_and_install_to_disk(
    install: DiskInstall,
    save: &Path,
    tx: &Sender<Report>,
) -> Result<usize, String> {
    let text = disk_answers(&install);
    save_answers(&text, save, tx)?;
    let _ = tx.send(Report::Progress(apply::Event::Note(format!(
        "erasing {}",
        disk_install::describe(&install.disk)
    ))));
    let mut out = |event: &apply::Event| {
        log::info!("{event}");
        let _ = tx.send(Report::Progress(event.clone()));
    };
    disk_install::install(&install.disk, &text, Path::new(LIVE_MEDIUM), &mut out)
        .map(|()| disk_install::STEPS)
        .map_err(|e| e.to_string())
}

fn finish(result: Result<usize, String>, tx: &Sender<Report>) {
    if let Err(e) = &result {
        log::error!("install failed: {e}");
    }
    let _ = tx.send(Report::Finished(result));
}
