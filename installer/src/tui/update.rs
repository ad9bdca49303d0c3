//! Keys: each key event changes the [`App`]; nothing here draws.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::form::{Field, Goal};
use super::{App, Check, DiskInstall, Outcome};

impl App {
    fn next_screen(&mut self) {
        let problems = self.screen_problems();
        if !problems.is_empty() {
            self.touched.extend(self.fields().iter().copied());
            self.refused = problems;
            return;
        }
        self.refused.clear();
        if self.screen + 1 == self.screens().len() {
            if self.form.goal() == Goal::Join {
                // The member is checked before anything of the token but its address is used.
                if let Some((_, token)) = self.form.join_answers() {
                    self.outcome = Some(Outcome::Check(Box::new(token)));
                }
            } else if let (Some(plan), Some(raw)) = (self.plan(), self.form.raw_disk()) {
                // On the install medium: the plan goes to the disk chosen.
                if let Some(disk) = self.form.disk_plan() {
                    self.outcome = Some(Outcome::InstallToDisk(Box::new(DiskInstall {
                        plan,
                        raw,
                        disk,
                    })));
                }
            } else if let Some(plan) = self.plan() {
                self.outcome = Some(Outcome::Install(Box::new(plan)));
            }
            return;
        }
        self.screen += 1;
        self.focus = 0;
    }

    fn move_focus(&mut self, forward: bool) {
        if self.screens()[self.screen].disk_list() {
            self.form.choose_disk(forward);
            return;
        }
        if self.screens()[self.screen].choice() {
            let joining = self.form.goal() == Goal::Join;
            self.form.set_joining(!joining);
            return;
        }
        if let Some(f) = self.focused() {
            self.touched.insert(f);
        }
        let n = self.fields().len();
        if n > 0 {
            self.focus = if forward {
                (self.focus + 1) % n
            } else {
                (self.focus + n - 1) % n
            };
        }
    }

    /// Handles one key.
    pub fn handle(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.confirm_quit {
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => self.outcome = Some(Outcome::Quit),
                _ => self.confirm_quit = false,
            }
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        if let Some(state) = &self.install {
            match (&state.result, key.code) {
                // Running: only quitting is possible (it asks first).
                (None, KeyCode::Char('c')) if ctrl => self.confirm_quit = true,
                (Some(Ok(_)), KeyCode::Enter) if state.to_disk.is_some() => {
                    self.outcome = Some(Outcome::Reboot)
                }
                (Some(Ok(_)), KeyCode::Enter) => self.outcome = Some(Outcome::Done),
                // Failed: back to the screens to fix (a join: to its token), then again.
                (Some(Err(_)), KeyCode::Esc) => {
                    let back = if state.joining {
                        Field::Token
                    } else if state.to_disk.is_some() {
                        Field::DiskDevice
                    } else {
                        Field::PublicInterface
                    };
                    self.install = None;
                    self.form.set(Field::EraseConfirm, "");
                    self.go_to(back);
                }
                (Some(_), KeyCode::Char('c')) if ctrl => self.confirm_quit = true,
                _ => {}
            }
            return;
        }
        if let Some(check) = &self.check {
            match (check, key.code) {
                (_, KeyCode::Char('c')) if ctrl => self.confirm_quit = true,
                // Given up on, failed or not confirmed: back to the token, nothing sent.
                (_, KeyCode::Esc) => {
                    self.check = None;
                    self.go_to(Field::Token);
                }
                (Check::Met(_), KeyCode::Enter) => {
                    if let Some((answers, _)) = self.form.join_answers() {
                        self.outcome = Some(Outcome::Join(Box::new(answers)));
                    }
                }
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char('c') if ctrl => self.confirm_quit = true,
            KeyCode::F(1) => self.help = true,
            KeyCode::Esc => {
                self.refused.clear();
                // Leaving the erase warning: it is confirmed again next time.
                self.form.set(Field::EraseConfirm, "");
                self.touched.remove(&Field::EraseConfirm);
                if self.screen > 0 {
                    self.screen -= 1;
                    self.focus = 0;
                }
            }
            KeyCode::Enter => {
                let last = self.focus + 1 >= self.fields().len();
                if last {
                    self.next_screen();
                } else {
                    self.move_focus(true);
                }
            }
            KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            KeyCode::Backspace => {
                if let Some(f) = self.focused().filter(|f| !f.chosen()) {
                    let mut v = self.form.get(f).to_owned();
                    v.pop();
                    self.form.set(f, v);
                }
            }
            KeyCode::Char(c) if !ctrl => {
                if let Some(f) = self.focused().filter(|f| !f.chosen()) {
                    let mut v = self.form.get(f).to_owned();
                    if v.chars().count() < 253 {
                        v.push(c);
                    }
                    self.form.set(f, v);
                }
            }
            _ => {}
        }
    }
}
