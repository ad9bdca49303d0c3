//! The table screen: a header line, the node table, and the selected node's detail with its
//! journal. Only the rows and journal lines that fit are turned into widgets, so 200 nodes and
//! 10,000 journal lines cost what a screenful does.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::block;
use crate::app::{App, Focus};
use crate::model::NodeRow;

const KEYS: &str = "a add d drain u undrain r remove m move b rebalance Tab journal F1 help q quit";

const WIDTHS: [Constraint; 10] = [
    Constraint::Fill(1),
    Constraint::Length(9),
    Constraint::Length(13),
    Constraint::Length(5),
    Constraint::Length(4),
    Constraint::Length(4),
    Constraint::Length(4),
    Constraint::Length(4),
    Constraint::Length(11),
    Constraint::Length(5),
];

/// Draws the table screen in `area`; returns the footer's keys.
pub(super) fn draw(app: &App, frame: &mut Frame, area: Rect) -> &'static str {
    let rows = &app.view.rows;
    let room = area.height.saturating_sub(1);
    // The table takes what its rows need, at most half the room; the detail the rest.
    let wanted = rows.len().max(1) as u16 + 3;
    let table_h = wanted.min((room / 2).max(6)).min(room);
    let [header, table, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_h),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header_line(app)), header);
    draw_table(app, frame, table);
    draw_detail(app, frame, detail);
    KEYS
}

fn header_line(app: &App) -> Line<'static> {
    let rows = &app.view.rows;
    let unreachable = rows.iter().filter(|r| !r.reachable).count();
    let mut spans = vec![Span::styled(
        "PigeonAir console",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if let Some(e) = &app.view.error {
        // The reason first: it is what the operator must see; the rows are the last good ones.
        spans.push(Span::styled(
            format!("  {e}"),
            Style::default().fg(Color::Red),
        ));
        if let Some(at) = app.refreshed_at {
            spans.push(Span::raw(format!(
                " (rows of {} s ago)",
                app.now.saturating_sub(at)
            )));
        }
        return Line::from(spans);
    }
    let mut what = match app.refreshed_at {
        None => "  gathering …".to_owned(),
        Some(at) => {
            let mut t = format!("  {} nodes", rows.len());
            if unreachable > 0 {
                t.push_str(&format!(", {unreachable} unreachable"));
            }
            t.push_str(&format!(", refreshed {} s ago", app.now.saturating_sub(at)));
            t
        }
    };
    if app.in_flight > 0 {
        what.push_str(", working …");
    }
    spans.push(Span::raw(what));
    Line::from(spans)
}

fn cells(r: &NodeRow) -> Row<'static> {
    let [smtp, imap, pop3] = r.health.clone();
    Row::new(vec![
        Cell::from(r.short.clone()),
        Cell::from(r.state.clone()),
        Cell::from(r.private.clone()),
        Cell::from(format!("{:>5}", r.mailboxes)),
        Cell::from(format!("{:>4}", r.disk)),
        Cell::from(smtp),
        Cell::from(imap),
        Cell::from(pop3),
        Cell::from(r.replication.clone()),
        Cell::from(format!("{:>5}", r.queue)),
    ])
}

fn draw_table(app: &App, frame: &mut Frame, area: Rect) {
    let rows = &app.view.rows;
    let visible = area.height.saturating_sub(3) as usize;
    let selected = app
        .selected
        .as_deref()
        .and_then(|s| rows.iter().position(|r| r.hostname == s));
    let sel = selected.unwrap_or(0);
    // The window keeps the selection in view (no state kept between frames).
    let offset = if sel < visible { 0 } else { sel + 1 - visible };
    let end = (offset + visible).min(rows.len());
    let body: Vec<Row> = rows[offset.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut style = Style::default();
            if !r.reachable {
                style = style.fg(Color::Red);
            } else if r.state != "active" {
                style = style.fg(Color::Yellow);
            }
            if Some(offset + i) == selected {
                style = style.add_modifier(if app.focus == Focus::Table {
                    Modifier::REVERSED
                } else {
                    Modifier::BOLD
                });
            }
            cells(r).style(style)
        })
        .collect();
    let header = Row::new([
        "NODE", "STATE", "ADDRESS", " MBOX", "DISK", "SMTP", "IMAP", "POP3", "REPL", "QUEUE",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let title = if rows.len() > visible {
        format!("Nodes {}/{}", sel + 1, rows.len())
    } else {
        "Nodes".to_owned()
    };
    frame.render_widget(
        Table::new(body, WIDTHS)
            .header(header)
            .column_spacing(1)
            .block(block(&title, app.ascii)),
        area,
    );
}

fn draw_detail(app: &App, frame: &mut Frame, area: Rect) {
    let Some(r) = app.selected.as_deref().and_then(|h| app.view.row(h)) else {
        frame.render_widget(
            Paragraph::new("No node to show yet.").block(block("", app.ascii)),
            area,
        );
        return;
    };
    let roles = if r.roles.is_empty() {
        "-".to_owned()
    } else {
        r.roles.join(",")
    };
    let mut lines = vec![
        Line::from(format!(
            "state {}  roles {roles}  public {}  private {}",
            r.state, r.public, r.private
        )),
        Line::styled(
            format!(
                "pigeonaird: {}  replication: {}",
                r.pigeonaird, r.replication_detail
            ),
            if r.reachable {
                Style::default()
            } else {
                Style::default().fg(Color::Red)
            },
        ),
        Line::from(format!(
            "mailboxes {}  disk {}  queue {}",
            r.mailboxes, r.disk_detail, r.queue_detail
        )),
    ];
    if r.health_detail.is_empty() {
        lines.push(Line::from("balancer: no balancer reports this node"));
    }
    lines.extend(
        r.health_detail
            .iter()
            .map(|h| Line::from(format!("balancer: {h}"))),
    );
    if let Some(p) = &r.progress {
        lines.push(Line::from(format!("drain: {}", p.line(app.now))));
    }
    let inner = area.height.saturating_sub(2) as usize;
    let room = inner.saturating_sub(lines.len() + 1);
    match &app.journal {
        Ok(journal) => {
            let end = journal.len().saturating_sub(app.journal_back);
            let start = end.saturating_sub(room);
            let focus = if app.focus == Focus::Journal {
                " (Up/Down/PgUp/PgDn scroll, Esc back)"
            } else {
                " (Tab to scroll)"
            };
            lines.push(Line::styled(
                if journal.is_empty() {
                    "journal: no lines yet".to_owned()
                } else {
                    format!(
                        "journal: lines {}-{} of {}{focus}",
                        start + 1,
                        end,
                        journal.len()
                    )
                },
                Style::default().add_modifier(Modifier::BOLD),
            ));
            lines.extend(journal[start..end].iter().map(|l| Line::raw(l.as_str())));
        }
        Err(e) => lines.push(Line::styled(
            format!("journal: {e}"),
            Style::default().fg(Color::Red),
        )),
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(&r.hostname, app.ascii)),
        area,
    );
}
