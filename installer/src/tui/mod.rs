//! The interactive installer: key events become changes of the [`App`] (`update`), which is
//! then drawn as it is (`view`); the state lives here. Whatever needs IO — checking the member
//! a join token names, the join, the install — the App asks of its runner as an [`Outcome`]
//! ([`App::take_request`]) and learns the result from [`Report`]s ([`App::report`]).
//! Terminal setup and teardown live in [`terminal`]. Everything here but [`terminal`] is pure
//! and tested with ratatui's TestBackend.

pub mod form;
mod install_view;
pub mod interfaces;
pub mod screens;
pub mod terminal;
mod update;
mod view;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use pigeonair_appliance::answers::JoinAnswers;
use pigeonair_appliance::disk::{BlockDevice, DiskPlan, RawDisk};
use pigeonair_appliance::plan::Plan;
use pigeonair_join::{Fingerprint, Token};

use form::{Field, Form};
use interfaces::Interface;
use screens::Screen;

/// How the wizard ended, or what it asks its runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Staff quit.
    Quit,
    /// Staff confirmed the summary: install this plan (the runner starts it and reports
    /// back with [`App::report`]).
    Install(Box<Plan>),
    /// Staff finished the join form: connect to the member in this token, check its CA and
    /// ask who it is, sending nothing secret ([`Report::Checked`]).
    Check(Box<Token>),
    /// Staff confirmed the cluster: join with these answers, then install the plan the join
    /// gives ([`Report::Joined`] once the member accepted, then as for an install).
    Join(Box<JoinAnswers>),
    /// On the install medium, staff confirmed the erase warning: install this plan to this
    /// disk, as the unattended install does, then report back as for an install.
    InstallToDisk(Box<DiskInstall>),
    /// The install finished and staff left the done screen.
    Done,
    /// The install to disk finished and staff left the done screen: reboot into it.
    Reboot,
}

/// An install to disk from the install medium: the node's plan, `[disk]` as chosen and the
/// layout the validator made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInstall {
    /// The node's plan (applied by the installed system's first boot).
    pub plan: Plan,
    /// `[disk]` as chosen (saved with the answers).
    pub raw: RawDisk,
    /// The disk and its layout, checked against the disks probed.
    pub disk: DiskPlan,
}

/// A member as the joining node met it, before anything secret was sent: on a connection
/// whose chain held the CA the token pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduction {
    /// The address connected to (the token's).
    pub via: SocketAddr,
    /// The cluster's name, as the member gave it.
    pub cluster: String,
    /// The member's host name.
    pub member: String,
    /// The fingerprint of the CA the member's certificate verified against.
    pub ca: Fingerprint,
}

/// What the runner reports of what it was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The member in the token was met, or why not (unreachable, another CA, …).
    Checked(Result<Introduction, String>),
    /// The member accepted the join: this is the node's plan.
    Joined(Box<Plan>),
    /// The join failed before anything was written here (refused by the member, or the
    /// member could not be reached or trusted): why.
    JoinFailed(String),
    /// A step ended, or a line of detail.
    Progress(crate::apply::Event),
    /// It finished: the number of changes, or why it failed.
    Finished(Result<usize, String>),
}

/// The check of the member a join token names, as the check screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Connecting to this address.
    Running(SocketAddr),
    /// It failed: nothing was sent.
    Failed {
        /// The address.
        via: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The member proved it holds the token's CA: staff confirm or go back.
    Met(Introduction),
}

/// The install as the install and done screens show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallState {
    /// Every line so far.
    pub log: Vec<String>,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// `Some` once finished.
    pub result: Option<Result<usize, String>>,
    /// Whether it starts with a join.
    pub joining: bool,
    /// The plan the join gave, once the member accepted.
    pub joined: Option<Box<Plan>>,
    /// The join failed before anything was written here.
    pub join_failed: bool,
    /// An install to this disk (from the install medium).
    pub to_disk: Option<DiskPlan>,
}

/// The wizard's state.
pub struct App {
    /// What was typed.
    pub form: Form,
    /// A password hash from a reviewed answers file (kept unless a new password is typed).
    pub password_hash: Option<String>,
    /// Network interfaces found on this box.
    pub interfaces: Vec<Interface>,
    /// Where the summary saves the answers file.
    pub answers_path: PathBuf,
    /// Whether the choice between a new cluster and joining one is offered (not when
    /// reviewing an answers file: its goal is given).
    choose: bool,
    screen: usize,
    focus: usize,
    touched: BTreeSet<Field>,
    refused: Vec<String>,
    help: bool,
    confirm_quit: bool,
    outcome: Option<Outcome>,
    check: Option<Check>,
    install: Option<InstallState>,
    ascii: bool,
    medium: bool,
}

impl App {
    /// A wizard over `interfaces`, saving to `answers_path`.
    pub fn new(interfaces: Vec<Interface>, answers_path: PathBuf) -> Self {
        App {
            form: Form::default(),
            password_hash: None,
            interfaces,
            answers_path,
            choose: true,
            screen: 0,
            focus: 0,
            touched: BTreeSet::new(),
            refused: Vec::new(),
            help: false,
            confirm_quit: false,
            outcome: None,
            check: None,
            install: None,
            ascii: false,
            medium: false,
        }
    }

    /// The wizard on the install medium: a new cluster's first node is installed to one of
    /// `disks` (the target disk, its layout and the erase warning are asked), as the
    /// unattended install does.
    pub fn on_medium(mut self, disks: Vec<BlockDevice>) -> Self {
        self.form.set_disks(disks);
        self.medium = true;
        self
    }

    /// The wizard reviewing an answers file filled into `form` (`--answers FILE --review`):
    /// the same screens, prefilled, without the choice (the file says what the box is).
    pub fn reviewing(mut self, form: Form) -> Self {
        let disks = self.form.disks().map(<[BlockDevice]>::to_vec);
        self.form = form;
        if let Some(disks) = disks {
            self.form.set_disks(disks);
        }
        self.choose = false;
        self
    }

    /// Draw borders with ASCII (`+-|`), for serial terminals without line-drawing glyphs.
    pub fn with_ascii_borders(mut self, ascii: bool) -> Self {
        self.ascii = ascii;
        self
    }

    /// Takes what the runner must do now ([`Outcome::Install`], [`Outcome::Check`],
    /// [`Outcome::Join`]), leaving the wizard running and showing it under way.
    pub fn take_request(&mut self) -> Option<Outcome> {
        match self.outcome.take() {
            Some(Outcome::Install(plan)) => {
                self.install = Some(InstallState {
                    total: 6,
                    ..InstallState::default()
                });
                Some(Outcome::Install(plan))
            }
            Some(Outcome::InstallToDisk(install)) => {
                self.install = Some(InstallState {
                    total: crate::disk::install::STEPS,
                    to_disk: Some(install.disk.clone()),
                    ..InstallState::default()
                });
                Some(Outcome::InstallToDisk(install))
            }
            Some(Outcome::Check(token)) => {
                self.check = Some(Check::Running(token.via));
                Some(Outcome::Check(token))
            }
            Some(Outcome::Join(answers)) => {
                self.check = None;
                self.install = Some(InstallState {
                    total: 6,
                    joining: true,
                    ..InstallState::default()
                });
                Some(Outcome::Join(answers))
            }
            other => {
                self.outcome = other;
                None
            }
        }
    }

    /// Feeds a report of what the runner is doing.
    pub fn report(&mut self, report: Report) {
        if let Report::Checked(result) = report {
            // A check given up on (Esc) may still report: it is dropped.
            if let Some(Check::Running(via)) = self.check {
                self.check = Some(match result {
                    Ok(met) => Check::Met(met),
                    Err(reason) => Check::Failed { via, reason },
                });
            }
            return;
        }
        let Some(state) = self.install.as_mut() else {
            return;
        };
        match report {
            Report::Checked(_) => {}
            Report::Joined(plan) => state.joined = Some(plan),
            Report::JoinFailed(reason) => {
                state.join_failed = true;
                state.result = Some(Err(reason));
            }
            Report::Progress(event) => {
                if let crate::apply::Event::Step { total, .. } = &event {
                    state.total = *total;
                    state.done += 1;
                }
                state.log.push(event.to_string());
            }
            Report::Finished(result) => state.result = Some(result),
        }
    }

    /// How the wizard ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Which view is drawn: the wizard's screen, and whether the check, the install or its
    /// end is shown over it. The terminal redraws whole when it changes, so a serial console
    /// (and whatever reads it) gets each view complete, not only the cells that differ.
    pub fn view_id(&self) -> (usize, u8) {
        let phase = match (&self.check, &self.install) {
            (_, Some(s)) if s.result.is_some() => 3,
            (_, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        };
        (self.screen, phase)
    }

    /// The current screen's title.
    pub fn screen_title(&self) -> &'static str {
        self.screens()[self.screen].title()
    }

    /// The check of the member in the join token, while it is shown.
    pub fn check(&self) -> Option<&Check> {
        self.check.as_ref()
    }

    /// The field with the focus, if the current screen has fields.
    pub fn focused(&self) -> Option<Field> {
        self.fields().get(self.focus).copied()
    }

    /// The plan, when the whole form is valid (a joining node's comes from its join).
    pub fn plan(&self) -> Option<Plan> {
        self.form.plan(self.password_hash.as_deref())
    }

    fn screens(&self) -> &'static [&'static dyn Screen] {
        screens::for_goal(self.form.goal(), self.choose, self.medium)
    }

    fn fields(&self) -> &'static [Field] {
        self.screens()[self.screen].fields()
    }

    /// Goes to the screen holding `field`, the focus on it.
    fn go_to(&mut self, field: Field) {
        if let Some(i) = self
            .screens()
            .iter()
            .position(|s| s.fields().contains(&field))
        {
            self.screen = i;
            self.focus = self.fields().iter().position(|f| *f == field).unwrap_or(0);
        }
    }

    /// Problems of the current screen's fields.
    fn screen_problems(&self) -> Vec<String> {
        let hash = self.password_hash.as_deref();
        let screen = self.screens()[self.screen];
        screen
            .fields()
            .iter()
            .chain(screen.also_checks())
            .flat_map(|f| {
                self.form
                    .problems_of(*f, hash)
                    .into_iter()
                    .map(move |m| format!("{}: {m}", f.label()))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}
