//! The interactive installer: key events become changes of the [`App`] (`update`), which is
//! then drawn as it is (`view`); the state lives here. Terminal setup and teardown live in
//! [`terminal`]. Everything here but [`terminal`] is pure and tested with ratatui's
//! TestBackend.

pub mod form;
pub mod interfaces;
pub mod screens;
pub mod terminal;
mod update;
mod view;

use std::collections::BTreeSet;
use std::path::PathBuf;

use pigeonair_appliance::plan::Plan;

use form::{Field, Form};
use interfaces::Interface;
use screens::Screen;

/// How the wizard ended, or what it asks its runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Staff quit.
    Quit,
    /// Staff confirmed the summary: install this plan (the runner starts it and reports
    /// back with [`App::install_event`]).
    Install(Box<Plan>),
    /// The install finished and staff left the done screen.
    Done,
}

/// What the running install reports.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallEvent {
    /// A step ended, or a line of detail.
    Progress(crate::apply::Event),
    /// It finished: the number of changes, or why it failed.
    Finished(Result<usize, String>),
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
    screens: Vec<Box<dyn Screen>>,
    screen: usize,
    focus: usize,
    touched: BTreeSet<Field>,
    refused: Vec<String>,
    help: bool,
    confirm_quit: bool,
    outcome: Option<Outcome>,
    install: Option<InstallState>,
    ascii: bool,
}

impl App {
    /// A wizard over `interfaces`, saving to `answers_path`.
    pub fn new(interfaces: Vec<Interface>, answers_path: PathBuf) -> Self {
        App {
            form: Form::default(),
            password_hash: None,
            interfaces,
            answers_path,
            screens: screens::all(),
            screen: 0,
            focus: 0,
            touched: BTreeSet::new(),
            refused: Vec::new(),
            help: false,
            confirm_quit: false,
            outcome: None,
            install: None,
            ascii: false,
        }
    }

    /// Draw borders with ASCII (`+-|`), for serial terminals without line-drawing glyphs.
    pub fn with_ascii_borders(mut self, ascii: bool) -> Self {
        self.ascii = ascii;
        self
    }

    /// Takes what the runner must do now (start the install), leaving the wizard running.
    pub fn take_request(&mut self) -> Option<Plan> {
        match self.outcome.take() {
            Some(Outcome::Install(plan)) => {
                self.install = Some(InstallState {
                    total: 5,
                    ..InstallState::default()
                });
                Some(*plan)
            }
            other => {
                self.outcome = other;
                None
            }
        }
    }

    /// Feeds a report of the running install.
    pub fn install_event(&mut self, event: InstallEvent) {
        let Some(state) = self.install.as_mut() else {
            return;
        };
        match event {
            InstallEvent::Progress(event) => {
                if event.is_step() {
                    state.done += 1;
                }
                state.log.push(event.to_string());
            }
            InstallEvent::Finished(result) => state.result = Some(result),
        }
    }

    /// How the wizard ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The current screen's title.
    pub fn screen_title(&self) -> &'static str {
        self.screens[self.screen].title()
    }

    /// The plan, when the whole form is valid.
    pub fn plan(&self) -> Option<Plan> {
        self.form.plan(self.password_hash.as_deref())
    }

    fn fields(&self) -> &'static [Field] {
        self.screens[self.screen].fields()
    }

    fn focused(&self) -> Option<Field> {
        self.fields().get(self.focus).copied()
    }

    /// Problems of the current screen's fields.
    fn screen_problems(&self) -> Vec<String> {
        let hash = self.password_hash.as_deref();
        self.fields()
            .iter()
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
