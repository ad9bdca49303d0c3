//! The terminal: raw mode and the alternate screen on start, restored on any exit — a panic
//! included. The loop feeds keys, ticks and the shells' results to the [`App`] as actions,
//! starts the jobs it asks for, and draws only when something changed (ratatui sends only the
//! cells that differ, so nothing flickers).

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::{Action, App, Request};
use crate::gather::{self, unix_now};

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen);
}

/// How the console gathers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time between refreshes.
    pub refresh: Duration,
    /// Journal lines fetched for the selected node.
    pub journal_lines: usize,
    /// This node's host name, if known.
    pub local: Option<String>,
}

/// Runs the console until the operator quits.
pub fn run(mut app: App, settings: Settings) -> io::Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let (tx, rx): (Sender<Action>, Receiver<Action>) = mpsc::channel();
    let gatherer = gather::spawn(
        tx.clone(),
        settings.refresh,
        settings.journal_lines,
        settings.local.clone(),
    );
    let result = (|| {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.clear()?;
        let mut dirty = true;
        let mut last_tick = Instant::now() - Duration::from_secs(1);
        loop {
            while let Ok(action) = rx.try_recv() {
                app.update(action);
                dirty = true;
            }
            if last_tick.elapsed() >= Duration::from_secs(1) {
                app.update(Action::Tick(unix_now()));
                last_tick = Instant::now();
                dirty = true;
            }
            for r in app.take_requests() {
                match r {
                    Request::Refresh => gatherer.refresh(),
                    r => crate::ops::start(r, tx.clone()),
                }
            }
            gatherer.watch(app.journal_host());
            if app.quitting() {
                return Ok(());
            }
            if dirty {
                terminal.draw(|f| crate::view::draw(&app, f))?;
                dirty = false;
            }
            if event::poll(Duration::from_millis(50))? {
                match event::read()? {
                    Event::Key(key) if key.kind == KeyEventKind::Press => {
                        if let Some(a) = app.action_for(key) {
                            app.update(a);
                        }
                        dirty = true;
                    }
                    Event::Resize(..) => dirty = true,
                    _ => {}
                }
            }
        }
    })();
    restore();
    result
}
