//! The console's state and how it changes: keys become [`Action`]s ([`App::action_for`]),
//! [`App::update`] changes the state and queues [`Request`]s for the shell to carry out off the
//! screen's thread; their [`Reply`]s, the gatherer's snapshots and journal lines come back as
//! actions too. Pure: no terminal, no directory, no clock (ticks carry the time), so every
//! screen is tested with ratatui's TestBackend (`view` draws it).

use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_ctl::directory::{DrainPreview, NewToken};
use pigeonair_ctl::rebalance::{Move, Plan};

use crate::model::{ClusterView, Snapshot};

/// How long a new token is accepted unless the operator types another.
pub const DEFAULT_TTL: &str = "1h";

/// What a key, a tick or a finished job means to the console.
#[derive(Debug, Clone)]
pub enum Action {
    /// Selection or scroll up one line.
    Up,
    /// Down one line.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// Next field, or table ↔ journal.
    Tab,
    /// Previous field.
    BackTab,
    /// Go on / confirm.
    Enter,
    /// Back.
    Back,
    /// F1.
    Help,
    /// `q` or Ctrl-C: quit (asks first while something runs).
    Quit,
    /// `y` on a question.
    Yes,
    /// A character typed into a field.
    Char(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Make a join token (`a`).
    AddNode,
    /// Drain the selected node (`d`).
    Drain,
    /// Bring the selected node back (`u`).
    Undrain,
    /// Remove the selected node (`r`).
    Remove,
    /// Move a mailbox (`m`).
    MoveMailbox,
    /// Plan a rebalance (`b`).
    Rebalance,
    /// Show the selected node's drain (`p`).
    Progress,
    /// Refresh now (`F5`).
    Refresh,
    /// The clock (unix seconds), for "refreshed N s ago" and time left.
    Tick(u64),
    /// A refresh of the cluster arrived.
    Snapshot(Snapshot),
    /// A node's journal arrived.
    Journal {
        /// The node.
        host: String,
        /// Its last lines, or why they could not be read.
        lines: Result<Vec<String>, String>,
    },
    /// A job the shell ran has ended.
    Reply(Reply),
}

/// What the shell is asked to do, off the screen's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `Directory::token_make` with this TTL.
    Token {
        /// As typed.
        ttl: String,
    },
    /// `Directory::drain_preview`.
    DrainPreview {
        /// The node.
        host: String,
    },
    /// `Directory::node_drain`.
    Drain {
        /// The node.
        host: String,
    },
    /// `Directory::node_undrain`.
    Undrain {
        /// The node.
        host: String,
    },
    /// `Directory::node_remove_check` (writes nothing).
    RemoveCheck {
        /// The node.
        host: String,
    },
    /// `Directory::node_remove`, then waiting for its entry to go.
    Remove {
        /// The node.
        host: String,
    },
    /// `Directory::user_move`.
    Move {
        /// The address, as typed.
        address: String,
        /// The target node, as typed.
        to: String,
    },
    /// `Directory::rebalance_plan`.
    RebalancePlan,
    /// `Directory::rebalance_ask` of these moves.
    Rebalance {
        /// The plan's moves.
        moves: Vec<Move>,
    },
    /// Refresh the cluster now.
    Refresh,
}

/// Why a job did not do what it was asked: the library's words, as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Refused (invalid, not found, exists, refused) rather than failed on the way.
    pub refused: bool,
    /// The message.
    pub message: String,
}

/// A job's end.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A token was made.
    Token(Result<NewToken, Failure>),
    /// What a drain would do.
    DrainPreview(Result<DrainPreview, Failure>),
    /// The drain was asked for.
    Drain(Result<(), Failure>),
    /// The node is active again.
    Undrain(Result<(), Failure>),
    /// Whether the node may be removed.
    RemoveCheck(Result<(), Failure>),
    /// The node is removed (its entry is gone).
    Remove(Result<(), Failure>),
    /// The move was asked for: what it said.
    Move(Result<String, Failure>),
    /// The rebalance plan.
    RebalancePlan(Result<Plan, Failure>),
    /// The rebalance's moves were asked for: what it said.
    Rebalance(Result<String, Failure>),
}

/// Which of a confirmation's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Drain.
    Drain,
    /// Undrain.
    Undrain,
    /// Remove.
    Remove,
}

impl Op {
    /// Its word.
    pub fn word(self) -> &'static str {
        match self {
            Op::Drain => "Drain",
            Op::Undrain => "Undrain",
            Op::Remove => "Remove",
        }
    }
}

/// The join token screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStep {
    /// Typing the TTL; a refusal of the last one.
    Editing(Option<String>),
    /// Being made.
    Making,
    /// Made: shown once.
    Made(NewToken),
}

/// The move form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveForm {
    /// The mailbox's address.
    pub address: String,
    /// The node it goes to.
    pub to: String,
    /// 0: address, 1: node.
    pub focus: usize,
    /// Asked for, no answer yet.
    pub waiting: bool,
    /// The library's refusal of the last try.
    pub refused: Option<String>,
}

/// What the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The node table, the selected node's detail and journal.
    Table,
    /// Adding a node: the TTL, then the token and the installer's steps.
    Token {
        /// TTL as typed.
        ttl: String,
        /// Where it stands.
        step: TokenStep,
        /// The nodes when the token was made: the others are new.
        known: BTreeSet<String>,
    },
    /// A question before drain, undrain or remove.
    Confirm {
        /// What.
        op: Op,
        /// Of which node.
        host: String,
        /// What will happen; empty while it is being worked out.
        lines: Vec<String>,
    },
    /// A node's drain.
    Progress(String),
    /// What an operation said: a refusal, a failure, or that it is done.
    Message {
        /// The title.
        title: String,
        /// The text.
        lines: Vec<String>,
        /// Shown in red.
        bad: bool,
        /// Still running: the text says what it waits for.
        waiting: bool,
        /// The text once what it waits for has succeeded.
        done: String,
    },
    /// Moving a mailbox.
    Move(MoveForm),
    /// The rebalance plan, then what it asked for.
    Rebalance {
        /// The plan, once there.
        plan: Option<Result<Plan, Failure>>,
        /// Its moves asked for: what that said.
        asked: Option<Result<String, Failure>>,
        /// Asked, no answer yet.
        running: bool,
    },
}

/// Which half of the table screen the arrows move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The node table.
    Table,
    /// The journal.
    Journal,
}

/// The console.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) view: ClusterView,
    pub(crate) refreshed_at: Option<u64>,
    pub(crate) now: u64,
    pub(crate) selected: Option<String>,
    pub(crate) focus: Focus,
    pub(crate) journal_host: Option<String>,
    pub(crate) journal: Result<Vec<String>, String>,
    /// Lines up from the journal's end (0 follows new lines).
    pub(crate) journal_back: usize,
    pub(crate) mode: Mode,
    pub(crate) help: bool,
    pub(crate) confirm_quit: bool,
    pub(crate) quit: bool,
    pub(crate) ascii: bool,
    pub(crate) in_flight: usize,
    requests: Vec<Request>,
}

impl App {
    /// A console with nothing gathered yet.
    pub fn new() -> Self {
        App {
            view: ClusterView::default(),
            refreshed_at: None,
            now: 0,
            selected: None,
            focus: Focus::Table,
            journal_host: None,
            journal: Ok(Vec::new()),
            journal_back: 0,
            mode: Mode::Table,
            help: false,
            confirm_quit: false,
            quit: false,
            ascii: false,
            in_flight: 0,
            requests: Vec::new(),
        }
    }

    /// Draw borders with ASCII (`+-|`), for serial terminals without line-drawing glyphs.
    pub fn with_ascii_borders(mut self, ascii: bool) -> Self {
        self.ascii = ascii;
        self
    }

    /// Whether the operator has quit.
    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// What the screen shows.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The selected node's host name.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The cluster as last gathered.
    pub fn cluster(&self) -> &ClusterView {
        &self.view
    }

    /// Takes the jobs the shell must start.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// Whether something runs that quitting would leave behind: a job of this console, or a
    /// drain in the cluster (it goes on without the console).
    pub fn busy(&self) -> bool {
        self.in_flight > 0 || self.view.rows.iter().any(|r| r.state == "draining")
    }

    fn ask(&mut self, r: Request) {
        if r != Request::Refresh {
            self.in_flight += 1;
        }
        self.requests.push(r);
    }

    fn selected_index(&self) -> Option<usize> {
        let s = self.selected.as_deref()?;
        self.view.rows.iter().position(|r| r.hostname == s)
    }

    /// The key's meaning on the current screen; `None` for keys that mean nothing here.
    pub fn action_for(&self, key: KeyEvent) -> Option<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl {
            return matches!(key.code, KeyCode::Char('c')).then_some(Action::Quit);
        }
        if self.confirm_quit || self.help {
            // Any key answers: `y` quits, others go back.
            return Some(match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Action::Yes,
                _ => Action::Back,
            });
        }
        let typing = matches!(
            self.mode,
            Mode::Move(_)
                | Mode::Token {
                    step: TokenStep::Editing(_),
                    ..
                }
        );
        Some(match key.code {
            KeyCode::F(1) => Action::Help,
            KeyCode::F(5) => Action::Refresh,
            KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown => Action::PageDown,
            KeyCode::Tab => Action::Tab,
            KeyCode::BackTab => Action::BackTab,
            KeyCode::Enter => Action::Enter,
            KeyCode::Esc => Action::Back,
            KeyCode::Backspace if typing => Action::Backspace,
            KeyCode::Char(c) if typing => Action::Char(c),
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('y') | KeyCode::Char('Y') => Action::Yes,
            KeyCode::Char(c) if self.mode == Mode::Table => match c {
                'a' => Action::AddNode,
                'd' => Action::Drain,
                'u' => Action::Undrain,
                'r' => Action::Remove,
                'm' => Action::MoveMailbox,
                'b' => Action::Rebalance,
                'p' => Action::Progress,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Handles one action.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Tick(now) => {
                self.now = now;
                return;
            }
            Action::Snapshot(s) => return self.snapshot(s),
            Action::Journal { host, lines } => {
                if self.journal_host.as_deref() == Some(host.as_str()) {
                    self.journal = lines;
                }
                return;
            }
            Action::Reply(r) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                return self.reply(r);
            }
            _ => {}
        }
        if self.confirm_quit {
            match action {
                Action::Yes => self.quit = true,
                _ => self.confirm_quit = false,
            }
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        match action {
            Action::Help => self.help = true,
            Action::Quit => {
                if self.busy() {
                    self.confirm_quit = true;
                } else {
                    self.quit = true;
                }
            }
            Action::Refresh => self.ask(Request::Refresh),
            _ => self.on_screen(action),
        }
    }

    fn snapshot(&mut self, s: Snapshot) {
        self.now = self.now.max(s.at);
        if s.error.is_none() {
            self.refreshed_at = Some(s.at);
        }
        let keep_error = s.error.is_some() && !self.view.rows.is_empty();
        let view = ClusterView::build(&s);
        if keep_error {
            // The directory did not answer this time: keep the last rows, with the reason.
            self.view.error = view.error;
        } else {
            self.view = view;
        }
        let still = self
            .selected
            .as_deref()
            .is_some_and(|h| self.view.row(h).is_some());
        if !still {
            self.selected = self.view.rows.first().map(|r| r.hostname.clone());
        }
        self.follow_selection();
    }

    /// The journal shown is the selected node's.
    fn follow_selection(&mut self) {
        if self.journal_host != self.selected {
            self.journal_host = self.selected.clone();
            self.journal = Ok(Vec::new());
            self.journal_back = 0;
        }
    }

    /// The node whose journal the gatherer should fetch.
    pub fn journal_host(&self) -> Option<&str> {
        self.journal_host.as_deref()
    }

    fn select_by(&mut self, delta: isize) {
        let n = self.view.rows.len();
        if n == 0 {
            return;
        }
        let i = self.selected_index().unwrap_or(0) as isize;
        let j = (i + delta).clamp(0, n as isize - 1) as usize;
        self.selected = Some(self.view.rows[j].hostname.clone());
        self.follow_selection();
    }

    fn scroll_journal(&mut self, delta: isize) {
        let len = self.journal.as_ref().map_or(0, Vec::len);
        let back = (self.journal_back as isize - delta).clamp(0, len as isize) as usize;
        self.journal_back = back;
    }

    fn on_screen(&mut self, action: Action) {
        let host = self.selected.clone();
        match &mut self.mode {
            Mode::Table => match action {
                Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                    let step = match action {
                        Action::Up => -1,
                        Action::Down => 1,
                        Action::PageUp => -10,
                        _ => 10,
                    };
                    match self.focus {
                        Focus::Table => self.select_by(step),
                        Focus::Journal => self.scroll_journal(step),
                    }
                }
                Action::Tab | Action::BackTab => {
                    self.focus = match self.focus {
                        Focus::Table => Focus::Journal,
                        Focus::Journal => Focus::Table,
                    }
                }
                Action::Back => self.focus = Focus::Table,
                Action::AddNode => {
                    self.mode = Mode::Token {
                        ttl: DEFAULT_TTL.into(),
                        step: TokenStep::Editing(None),
                        known: BTreeSet::new(),
                    }
                }
                Action::MoveMailbox => {
                    self.mode = Mode::Move(MoveForm {
                        to: host.unwrap_or_default(),
                        ..MoveForm::default()
                    })
                }
                Action::Rebalance => {
                    self.mode = Mode::Rebalance {
                        plan: None,
                        asked: None,
                        running: false,
                    };
                    self.ask(Request::RebalancePlan);
                }
                Action::Drain | Action::Undrain | Action::Remove => {
                    let Some(host) = host else { return };
                    let (op, lines) = match action {
                        Action::Drain => {
                            self.ask(Request::DrainPreview { host: host.clone() });
                            (Op::Drain, vec![])
                        }
                        Action::Remove => {
                            self.ask(Request::RemoveCheck { host: host.clone() });
                            (Op::Remove, vec![])
                        }
                        _ => (Op::Undrain, undrain_text(&host)),
                    };
                    self.mode = Mode::Confirm { op, host, lines };
                }
                Action::Progress | Action::Enter => {
                    if let Some(h) = host {
                        let drains = self
                            .view
                            .row(&h)
                            .is_some_and(|r| r.progress.is_some() || r.state == "draining");
                        if drains || matches!(action, Action::Progress) {
                            self.mode = Mode::Progress(h);
                        }
                    }
                }
                _ => {}
            },
            Mode::Token { ttl, step, known } => match (action, &step) {
                (Action::Back, _) => self.mode = Mode::Table,
                (Action::Char(c), TokenStep::Editing(_)) if ttl.len() < 8 => ttl.push(c),
                (Action::Backspace, TokenStep::Editing(_)) => {
                    ttl.pop();
                }
                (Action::Enter, TokenStep::Editing(_)) => {
                    let ttl = ttl.clone();
                    *step = TokenStep::Making;
                    *known = self.view.rows.iter().map(|r| r.hostname.clone()).collect();
                    self.ask(Request::Token { ttl });
                }
                (Action::Enter, TokenStep::Made(_)) => self.mode = Mode::Table,
                _ => {}
            },
            Mode::Confirm { op, host, lines } => match action {
                Action::Back => self.mode = Mode::Table,
                Action::Enter | Action::Yes if !lines.is_empty() => {
                    let host = host.clone();
                    match op {
                        Op::Drain => {
                            self.ask(Request::Drain { host: host.clone() });
                            self.mode = Mode::Progress(host);
                        }
                        Op::Undrain => {
                            self.ask(Request::Undrain { host: host.clone() });
                            self.mode = Mode::Message {
                                title: format!("Undrain {host}"),
                                lines: vec![format!("asking for {host} to be active again …")],
                                bad: false,
                                waiting: true,
                                done: format!("{host} is active again"),
                            };
                        }
                        Op::Remove => {
                            self.ask(Request::Remove { host: host.clone() });
                            self.mode = Mode::Message {
                                title: format!("Remove {host}"),
                                lines: vec![format!(
                                    "{host} is being removed: a node holding the CA's key revokes its certificates and deletes its entry …"
                                )],
                                bad: false,
                                waiting: true,
                                done: format!(
                                    "{host} is removed from the cluster; its certificates are revoked"
                                ),
                            };
                        }
                    }
                }
                _ => {}
            },
            Mode::Progress(_) | Mode::Message { .. } => {
                if matches!(action, Action::Back | Action::Enter) {
                    self.mode = Mode::Table;
                }
            }
            Mode::Move(form) => match action {
                Action::Back => self.mode = Mode::Table,
                Action::Tab | Action::BackTab | Action::Up | Action::Down => {
                    form.focus = 1 - form.focus
                }
                Action::Char(c) if !form.waiting => {
                    let field = if form.focus == 0 {
                        &mut form.address
                    } else {
                        &mut form.to
                    };
                    if field.chars().count() < 254 {
                        field.push(c);
                    }
                }
                Action::Backspace if !form.waiting => {
                    if form.focus == 0 {
                        form.address.pop();
                    } else {
                        form.to.pop();
                    }
                }
                Action::Enter if form.focus == 0 => form.focus = 1,
                Action::Enter if !form.waiting => {
                    form.waiting = true;
                    form.refused = None;
                    let r = Request::Move {
                        address: form.address.trim().to_owned(),
                        to: form.to.trim().to_owned(),
                    };
                    self.ask(r);
                }
                _ => {}
            },
            Mode::Rebalance {
                plan,
                asked,
                running,
            } => match action {
                Action::Back => self.mode = Mode::Table,
                Action::Enter | Action::Yes if asked.is_some() => self.mode = Mode::Table,
                Action::Enter | Action::Yes if !*running => {
                    if let Some(Ok(p)) = plan
                        && !p.moves.is_empty()
                    {
                        let moves = p.moves.clone();
                        *running = true;
                        self.ask(Request::Rebalance { moves });
                    }
                }
                _ => {}
            },
        }
    }

    fn reply(&mut self, r: Reply) {
        let message = |title: String, f: Failure| Mode::Message {
            title,
            lines: vec![f.message],
            bad: true,
            waiting: false,
            done: String::new(),
        };
        let verb = |f: &Failure| if f.refused { "refused" } else { "failed" };
        match r {
            Reply::Token(result) => {
                if let Mode::Token { step, .. } = &mut self.mode {
                    *step = match result {
                        Ok(t) => TokenStep::Made(t),
                        Err(f) => TokenStep::Editing(Some(f.message)),
                    };
                }
            }
            Reply::DrainPreview(result) => {
                if let Mode::Confirm {
                    op: Op::Drain,
                    host,
                    lines,
                } = &mut self.mode
                {
                    match result {
                        Ok(p) => *lines = drain_text(&p),
                        Err(f) => {
                            let title = format!("Drain {host} {}", verb(&f));
                            self.mode = message(title, f);
                        }
                    }
                }
            }
            Reply::RemoveCheck(result) => {
                if let Mode::Confirm {
                    op: Op::Remove,
                    host,
                    lines,
                } = &mut self.mode
                {
                    match result {
                        Ok(()) => *lines = remove_text(host),
                        Err(f) => {
                            let title = format!("Remove {host} {}", verb(&f));
                            self.mode = message(title, f);
                        }
                    }
                }
            }
            Reply::Drain(result) => {
                if let Err(f) = result {
                    let host = match &self.mode {
                        Mode::Progress(h) => h.clone(),
                        _ => String::from("the node"),
                    };
                    self.mode = message(format!("Drain {host} {}", verb(&f)), f);
                }
            }
            Reply::Undrain(result) | Reply::Remove(result) => {
                if let Mode::Message {
                    title,
                    lines,
                    bad,
                    waiting,
                    done,
                } = &mut self.mode
                {
                    *waiting = false;
                    match result {
                        Ok(()) => *lines = vec![done.clone()],
                        Err(f) => {
                            *title = format!("{title} {}", verb(&f));
                            *lines = vec![f.message];
                            *bad = true;
                        }
                    }
                }
            }
            Reply::Move(result) => {
                if let Mode::Move(form) = &mut self.mode {
                    form.waiting = false;
                    match result {
                        Ok(done) => {
                            self.mode = Mode::Message {
                                title: "Move".into(),
                                lines: vec![
                                    done,
                                    "Its home node's control plane carries it out; the \
                                     mailbox counts in the table follow."
                                        .into(),
                                ],
                                bad: false,
                                waiting: false,
                                done: String::new(),
                            }
                        }
                        Err(f) => form.refused = Some(f.message),
                    }
                }
            }
            Reply::RebalancePlan(result) => {
                if let Mode::Rebalance { plan, .. } = &mut self.mode {
                    *plan = Some(result);
                }
            }
            Reply::Rebalance(result) => {
                if let Mode::Rebalance { asked, running, .. } = &mut self.mode {
                    *running = false;
                    *asked = Some(result);
                }
            }
        }
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

/// The drain confirmation's text.
fn drain_text(p: &DrainPreview) -> Vec<String> {
    let host = &p.hostname;
    vec![
        p.text(),
        String::new(),
        format!(
            "The balancer stops giving {host} new connections and no new mailbox is placed on \
             it; its control plane moves its mailboxes a few at a time, each to the least \
             loaded active node, flushes its queue, and it ends drained."
        ),
    ]
}

fn undrain_text(host: &str) -> Vec<String> {
    vec![format!(
        "{host} becomes active again: the moves its drain asked for that have not started are \
         withdrawn; those under way finish."
    )]
}

fn remove_text(host: &str) -> Vec<String> {
    vec![
        format!(
            "{host} leaves the cluster: its entry goes, its certificates are revoked (it cannot \
             come back with its old identity) and the other nodes and the balancer forget it."
        ),
        String::new(),
        "This cannot be undone: a node that comes back must join again with a new token.".into(),
    ]
}
