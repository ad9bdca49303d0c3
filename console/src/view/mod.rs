//! Drawing, and nothing else: every function here reads the [`App`] and draws a frame. The
//! table screen is [`cluster`]; the operations' screens are [`screens`].

mod cluster;
mod screens;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::{App, Mode};

/// Draws the whole screen.
pub fn draw(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [body, footer] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let keys = match app.mode() {
        Mode::Table => cluster::draw(app, frame, body),
        _ => screens::draw(app, frame, body),
    };
    frame.render_widget(
        Paragraph::new(keys).style(Style::default().add_modifier(Modifier::REVERSED)),
        footer,
    );
    if app.help {
        popup(frame, area, "Keys", HELP, 20, app.ascii);
    }
    if app.confirm_quit {
        popup(frame, area, "Quit?", QUIT_TEXT, 8, app.ascii);
    }
}

const HELP: &str = "\
Up/Down     select a node (or scroll the journal)
Tab         switch between the node table and the journal
Enter, p    the selected node's drain progress
a           add a node: make a join token
d           drain the selected node (asks first)
u           undrain it (asks first)
r           remove it (asks first)
m           move a mailbox to another node
b           rebalance mailboxes (shows the plan first)
F5          refresh now (every 2 s anyway)
Esc         back
q, Ctrl-C   quit (asks first while something runs)

The table: STATE from the directory; SMTP/IMAP/POP3 as the balancer sees them (- when no \
balancer reports the node); REPL against the provider; QUEUE the node's mail queue.
Any key closes this.";

const QUIT_TEXT: &str = "Quit the console? What runs goes on without it (a drain or a move is \
carried out by the nodes, and its progress is in the directory). y quits, any other key goes \
back.";

/// Borders in line-drawing glyphs, or ASCII for serial terminals.
pub(crate) fn borders(ascii: bool) -> border::Set {
    if ascii {
        border::Set {
            top_left: "+",
            top_right: "+",
            bottom_left: "+",
            bottom_right: "+",
            vertical_left: "|",
            vertical_right: "|",
            horizontal_top: "-",
            horizontal_bottom: "-",
        }
    } else {
        border::PLAIN
    }
}

/// A bordered block with a title.
pub(crate) fn block(title: &str, ascii: bool) -> Block<'static> {
    let b = Block::default()
        .borders(Borders::ALL)
        .border_set(borders(ascii));
    if title.is_empty() {
        b
    } else {
        b.title(format!(" {title} "))
    }
}

fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str, height: u16, ascii: bool) {
    let w = area.width.saturating_sub(6).min(76);
    let h = height.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = text.lines().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, ascii)),
        rect,
    );
}
