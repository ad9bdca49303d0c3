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

use super::{App, Outcome, Report};

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen);
}

/// Runs the wizard until staff quit or leave the done screen. `start` carries out what the
/// wizard asks ([`App::take_request`]: a check, a join, an install) and returns where its
/// reports arrive; the reports of what was asked before are no longer read.
pub fn run(
    mut app: App,
    mut start: impl FnMut(Outcome) -> Receiver<Report>,
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
        let mut reports: Option<Receiver<Report>> = None;
        let mut drawn = app.view_id();
        loop {
            if let Some(request) = app.take_request() {
                reports = Some(start(request));
            }
            if let Some(rx) = &reports {
                while let Ok(report) = rx.try_recv() {
                    app.report(report);
                }
            }
            if app.view_id() != drawn {
                // A new view is drawn whole (see App::view_id).
                drawn = app.view_id();
                terminal.clear()?;
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
