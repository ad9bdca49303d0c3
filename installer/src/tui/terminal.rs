//! The terminal: raw mode and the alternate screen on start, restored on any exit — a panic
//! included — so staff never get a broken console.

use std::io;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use pigeonair_appliance::plan::Plan;

use super::{App, InstallEvent, Outcome};

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen);
}

/// Runs the wizard until staff quit or leave the done screen. `start` begins the install of
/// the confirmed plan and returns where its progress arrives.
pub fn run(
    mut app: App,
    mut start: impl FnMut(Plan) -> Receiver<InstallEvent>,
) -> io::Result<Outcome> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let result = (|| {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.clear()?;
        let mut progress: Option<Receiver<InstallEvent>> = None;
        loop {
            if let Some(plan) = app.take_request() {
                progress = Some(start(plan));
            }
            if let Some(rx) = &progress {
                while let Ok(event) = rx.try_recv() {
                    app.install_event(event);
                }
            }
            terminal.draw(|f| app.draw(f))?;
            if let Some(outcome) = app.outcome() {
                return Ok(outcome.clone());
            }
            // Resizes and progress redraw on the next pass.
            if event::poll(Duration::from_millis(100))?
                && let Event::Key(key) = event::read()?
                && key.kind == KeyEventKind::Press
            {
                app.handle(key);
            }
        }
    })();
    restore();
    result
}
