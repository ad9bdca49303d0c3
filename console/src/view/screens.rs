//! The operations' screens: add a node (the token), the confirmations, a drain's progress,
//! what an operation said, the move form and the rebalance plan.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::block;
use crate::app::{App, Mode, Op, TokenStep};
use crate::model::{progress_lines, progress_ratio};

fn red() -> Style {
    Style::default().fg(Color::Red)
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// A title line, a purpose line, and a bordered body of `lines`.
fn page(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    title: &str,
    purpose: &str,
    lines: Vec<Line>,
    wrap: bool,
) {
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(area);
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(format!("PigeonAir console - {title}"), bold()),
            Line::from(purpose.to_owned()),
        ]),
        head,
    );
    let mut p = Paragraph::new(lines).block(block("", app.ascii));
    if wrap {
        p = p.wrap(Wrap { trim: false });
    }
    frame.render_widget(p, body);
}

/// Draws the screen of the current operation; returns the footer's keys.
pub(super) fn draw(app: &App, frame: &mut Frame, area: Rect) -> &'static str {
    match app.mode() {
        Mode::Table => "",
        Mode::Token { ttl, step, known } => {
            let mut lines = Vec::new();
            let keys = match step {
                TokenStep::Made(t) => {
                    lines.push(Line::from(format!(
                        "Token {}: one node may use it, once, until {} (UTC),",
                        t.id, t.expires
                    )));
                    lines.push(Line::from(format!(
                        "joining through {}. The answers file's line:",
                        t.via
                    )));
                    let line = t.answers_line();
                    lines.push(Line::styled(line.clone(), bold()));
                    // A token is about 120 characters: on a narrower screen the line is cut,
                    // so the token follows in pieces too (on one line each, to copy by hand).
                    let inner = area.width.saturating_sub(2) as usize;
                    if line.chars().count() > inner && inner > 8 {
                        lines.push(Line::from(
                            "The line is wider than the screen; the token in pieces, to join:",
                        ));
                        let chars: Vec<char> = t.token.chars().collect();
                        for piece in chars.chunks(inner - 2) {
                            lines.push(Line::from(format!(
                                "  {}",
                                piece.iter().collect::<String>()
                            )));
                        }
                    }
                    lines.push(Line::from(""));
                    lines.push(Line::from(
                        "On the new box (Debian 13 with the pigeonair package):",
                    ));
                    lines.push(Line::from(
                        " 1. Write its answers file: its own [node] and [network] tables and",
                    ));
                    lines.push(Line::from("      [cluster]"));
                    lines.push(Line::from("      join = \"…\"   (the line above)"));
                    lines.push(Line::from(" 2. Run: pigeonair-install --answers FILE"));
                    lines.push(Line::from(" 3. It appears here as joining, then active."));
                    lines.push(Line::from(""));
                    let new: Vec<String> = app
                        .view
                        .rows
                        .iter()
                        .filter(|r| !known.contains(&r.hostname))
                        .map(|r| format!("{} {}", r.hostname, r.state))
                        .collect();
                    lines.push(Line::from(if new.is_empty() {
                        "New nodes: none yet".to_owned()
                    } else {
                        format!("New nodes: {}", new.join(", "))
                    }));
                    "Enter or Esc back to the table  F1 help  q quit"
                }
                _ => {
                    lines.push(Line::from(
                        "A token lets one new box join the cluster, once, until it expires.",
                    ));
                    lines.push(Line::from(""));
                    lines.push(Line::from(vec![
                        ratatui::text::Span::raw("> Valid for (90s, 30m, 1h, 7d)  "),
                        ratatui::text::Span::styled(
                            format!("{ttl:<10}"),
                            Style::default().add_modifier(Modifier::REVERSED),
                        ),
                    ]));
                    if let TokenStep::Editing(Some(why)) = step {
                        lines.push(Line::from(""));
                        lines.push(Line::styled("Refused:", red().add_modifier(Modifier::BOLD)));
                        lines.push(Line::styled(format!("  {why}"), red()));
                    }
                    if matches!(step, TokenStep::Making) {
                        lines.push(Line::from(""));
                        lines.push(Line::from("making the token …"));
                    }
                    "Enter make the token  Esc back  F1 help  Ctrl-C quit"
                }
            };
            // The token's line is never wrapped: one line to copy (or to scrape).
            page(
                frame,
                area,
                app,
                "Add a node",
                "Make a one-time join token.",
                lines,
                // The token's line is never wrapped: one line to copy (or to scrape).
                !matches!(step, TokenStep::Made(_)),
            );
            keys
        }
        Mode::Confirm { op, host, lines } => {
            let mut body: Vec<Line> = if lines.is_empty() {
                vec![Line::from(match op {
                    Op::Drain => "working out where its mailboxes would go …",
                    _ => "checking whether it can be removed …",
                })]
            } else {
                lines.iter().map(|l| Line::from(l.clone())).collect()
            };
            if !lines.is_empty() {
                body.push(Line::from(""));
                body.push(Line::styled(
                    format!(
                        "Enter or y: {} {host}.  Esc: back, nothing done.",
                        op.word().to_lowercase()
                    ),
                    bold(),
                ));
            }
            page(
                frame,
                area,
                app,
                &format!("{} {host}?", op.word()),
                "What will happen:",
                body,
                true,
            );
            "Enter/y confirm  Esc back  F1 help  q quit"
        }
        Mode::Progress(host) => {
            draw_progress(app, frame, area, host);
            "Esc back (the drain goes on)  F1 help  q quit"
        }
        Mode::Message {
            title,
            lines,
            bad,
            waiting,
            ..
        } => {
            let style = if *bad { red() } else { Style::default() };
            let body = lines
                .iter()
                .map(|l| Line::styled(l.clone(), style))
                .collect();
            let purpose = if *waiting {
                "Working …"
            } else if *bad {
                "Nothing was changed unless the message says so."
            } else {
                "Done."
            };
            page(frame, area, app, title, purpose, body, true);
            "Enter or Esc back  F1 help  q quit"
        }
        Mode::Move(form) => {
            let field = |i: usize, label: &str, value: &str| {
                Line::from(vec![
                    ratatui::text::Span::raw(format!(
                        "{} {label:<12}",
                        if form.focus == i { ">" } else { " " }
                    )),
                    ratatui::text::Span::styled(
                        format!("{value:<40}"),
                        if form.focus == i {
                            Style::default().add_modifier(Modifier::REVERSED)
                        } else {
                            Style::default()
                        },
                    ),
                ])
            };
            let active: Vec<&str> = app
                .view
                .rows
                .iter()
                .filter(|r| r.state == "active")
                .map(|r| r.hostname.as_str())
                .collect();
            let mut lines = vec![
                field(0, "Address", &form.address),
                field(1, "To node", &form.to),
                Line::from(""),
                Line::from(format!("Active nodes: {}", active.join(", "))),
            ];
            if form.waiting {
                lines.push(Line::from(""));
                lines.push(Line::from("asking for the move …"));
            }
            if let Some(why) = &form.refused {
                lines.push(Line::from(""));
                lines.push(Line::styled("Refused:", red().add_modifier(Modifier::BOLD)));
                lines.push(Line::styled(format!("  {why}"), red()));
            }
            page(
                frame,
                area,
                app,
                "Move a mailbox",
                "Its home node copies it over while it stays in use; nothing is downloaded again.",
                lines,
                true,
            );
            "Tab/arrows field  Enter next/move  Esc back  F1 help  Ctrl-C quit"
        }
        Mode::Rebalance {
            plan,
            asked,
            running,
        } => {
            let mut lines: Vec<Line> = Vec::new();
            let mut keys = "Esc back  F1 help  q quit";
            match plan {
                None => lines.push(Line::from("planning …")),
                Some(Err(f)) => lines.push(Line::styled(f.message.clone(), red())),
                Some(Ok(p)) => {
                    let text = p.text();
                    let all: Vec<&str> = text.lines().collect();
                    let room = area.height.saturating_sub(9) as usize;
                    let shown = all.len().min(room);
                    lines.extend(all[..shown].iter().map(|l| Line::raw(l.to_string())));
                    if all.len() > shown {
                        lines.push(Line::from(format!(
                            "… and {} more lines",
                            all.len() - shown
                        )));
                    }
                    lines.push(Line::from(""));
                    match (asked, *running) {
                        (Some(Ok(said)), _) => {
                            lines.push(Line::from(said.clone()));
                            keys = "Enter or Esc back  F1 help  q quit";
                        }
                        (Some(Err(f)), _) => {
                            lines.push(Line::styled(f.message.clone(), red()));
                            keys = "Enter or Esc back  F1 help  q quit";
                        }
                        (None, true) => lines.push(Line::from("asking for the moves …")),
                        (None, false) if p.moves.is_empty() => {
                            lines.push(Line::from(if p.even() {
                                "Nothing to move: the active nodes are balanced."
                            } else {
                                "Nothing to move now: moves under way or failed keep the counts apart."
                            }))
                        }
                        (None, false) => {
                            lines.push(Line::styled(
                                format!(
                                    "Enter or y asks for these {} moves; Esc goes back, nothing asked.",
                                    p.moves.len()
                                ),
                                bold(),
                            ));
                            keys = "Enter/y ask for the moves  Esc back  F1 help  q quit";
                        }
                    }
                }
            }
            page(
                frame,
                area,
                app,
                "Rebalance",
                "Even out mailboxes over the active nodes (by count). The plan:",
                lines,
                false,
            );
            keys
        }
    }
}

fn draw_progress(app: &App, frame: &mut Frame, area: Rect, host: &str) {
    let row = app.view.row(host);
    let state = row.map_or("gone from the directory", |r| r.state.as_str());
    let progress = row.and_then(|r| r.progress.as_ref());
    let [head, gauge, body] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(3),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(format!("PigeonAir console - Drain of {host}"), bold()),
            Line::from(format!("state: {state}")),
        ]),
        head,
    );
    let label = match progress {
        Some(p) => format!("{}/{} mailboxes", p.mailboxes_done, p.mailboxes_total),
        None => "not started".to_owned(),
    };
    frame.render_widget(
        Gauge::default()
            .block(block("", app.ascii))
            .ratio(progress_ratio(progress))
            .label(label),
        gauge,
    );
    let mut lines: Vec<Line> = progress_lines(progress, state, app.now)
        .into_iter()
        .map(Line::from)
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "The drain is carried out by the node itself and recorded in the directory: it goes on \
         when this screen or the console is left, and shows here again when reopened.",
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block("", app.ascii)),
        body,
    );
}
