//! `pigeonctl cluster rebalance`: which mailboxes to move so that every active node is home to
//! as many as the others, give or take one. Pure: the directory's users and nodes in, the moves
//! out; `Directory::rebalance_*` reads the input and writes the moves, and the home nodes'
//! pigeonaird carry them out as any other move.
//!
//! The directory holds no mailbox sizes, so the plan evens out mailbox counts. With `total`
//! mailboxes over `n` active nodes each node's target is `total / n`, and the remainder's extra
//! mailbox goes to the nodes that hold the most already (so as few move as can). Mailboxes move
//! only from nodes above their target to nodes below it, which is the fewest moves that reach
//! the targets. A mailbox whose move is under way (or failed) stays where it is, and counts on
//! the node it will end on; nodes that are not active (joining, draining, drained) take and give
//! nothing.

use std::collections::BTreeMap;

use serde::Serialize;

/// The start of `pigeonairMoveDetail` on a move a rebalance asked for.
pub const REBALANCE_MARK: &str = "asked for by the rebalance";

/// Where a mailbox's move stands, as its entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveState {
    /// No move.
    None,
    /// A move asked for or under way: to `to` (before the flip), or after it, removing the old
    /// copy (`to` none: the mailbox is on its home node already).
    UnderWay {
        /// The node it goes to, until `mailHost` is flipped.
        to: Option<String>,
    },
    /// The last move failed; it waits for an administrator.
    Failed,
}

/// One user's mailbox, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The user's address.
    pub user: String,
    /// Its home node (`mailHost`).
    pub home: String,
    /// Its move, if any.
    pub moving: MoveState,
}

/// One move of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The user's address.
    pub user: String,
    /// Its home node now.
    pub from: String,
    /// The node it goes to.
    pub to: String,
}

/// What a rebalance does: the moves, and the mailboxes per active node before and after them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The moves, by address.
    pub moves: Vec<Move>,
    /// Mailboxes per active node now (a mailbox being moved counts where it goes).
    pub before: BTreeMap<String, usize>,
    /// Mailboxes per active node once the moves are done.
    pub after: BTreeMap<String, usize>,
    /// Mailboxes left where they are because their move is under way or failed.
    pub left_alone: usize,
}

impl Plan {
    /// Whether the nodes end within one mailbox of each other. False only when mailboxes being
    /// moved, or whose move failed, keep a node above the others.
    pub fn even(&self) -> bool {
        let min = self.after.values().min().copied().unwrap_or(0);
        let max = self.after.values().max().copied().unwrap_or(0);
        max <= min + 1
    }

    /// For people: one line per move, then each node's count before → after.
    pub fn text(&self) -> String {
        let mut t = String::new();
        for m in &self.moves {
            t.push_str(&format!("move {}  {} → {}\n", m.user, m.from, m.to));
        }
        for (node, before) in &self.before {
            t.push_str(&format!(
                "{node:<24} {before:>6} → {} mailboxes\n",
                self.after.get(node).copied().unwrap_or(0)
            ));
        }
        if self.left_alone > 0 {
            t.push_str(&format!(
                "{} mailbox(es) being moved or with a failed move are left where they are\n",
                self.left_alone
            ));
        }
        t
    }
}

/// The node a mailbox is on once its move (if any) is done: the move's target if that is an
/// active node (a move elsewhere fails and leaves it home), else its home node.
fn ends_on<'a>(m: &'a Mailbox, active: &BTreeMap<String, usize>) -> &'a str {
    match &m.moving {
        MoveState::UnderWay { to: Some(to) } if active.contains_key(to) => to,
        _ => &m.home,
    }
}

/// Each node's target: `counts` spread evenly, each node kept at least at `floors` (its
/// mailboxes that cannot move), the remainder's extra mailbox to the nodes holding the most
/// (then by name), which keeps moves fewest.
fn targets(
    counts: &BTreeMap<String, usize>,
    floors: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    let mut fixed: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        let free: Vec<&String> = counts.keys().filter(|n| !fixed.contains_key(*n)).collect();
        if free.is_empty() {
            return fixed;
        }
        let total: usize = counts.values().sum::<usize>() - fixed.values().sum::<usize>();
        let (base, mut extra) = (total / free.len(), total % free.len());
        let mut by_load = free.clone();
        by_load.sort_by(|a, b| counts[*b].cmp(&counts[*a]).then(a.cmp(b)));
        let mut t = BTreeMap::new();
        for n in by_load {
            let share = base + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            t.insert(n.clone(), share);
        }
        // A node whose unmovable mailboxes exceed its share keeps them all; the others share
        // what is left.
        let over: Vec<String> = t
            .iter()
            .filter(|(n, share)| floors[*n] > **share)
            .map(|(n, _)| n.clone())
            .collect();
        if over.is_empty() {
            fixed.extend(t);
            return fixed;
        }
        for n in over {
            fixed.insert(n.clone(), floors[&n]);
        }
    }
}

/// The rebalance of `mailboxes` over the `active` nodes. Deterministic: the same input gives
/// the same moves, sorted by address; a node gives its mailboxes in address order.
pub fn plan(active: &[String], mailboxes: &[Mailbox]) -> Plan {
    let mut before: BTreeMap<String, usize> = active.iter().map(|n| (n.clone(), 0)).collect();
    let mut floors = before.clone();
    let mut movable: BTreeMap<String, Vec<&Mailbox>> = BTreeMap::new();
    let mut left_alone = 0;
    for m in mailboxes {
        let on = ends_on(m, &before).to_owned();
        let Some(count) = before.get_mut(&on) else {
            continue; // on a node that is not active: it takes and gives nothing
        };
        *count += 1;
        if m.moving == MoveState::None {
            movable.entry(on).or_default().push(m);
        } else {
            *floors.get_mut(&on).expect("an active node") += 1;
            left_alone += 1;
        }
    }
    let target = targets(&before, &floors);

    // What each node gives (its first mailboxes by address) and how many it takes.
    let mut given: Vec<&Mailbox> = Vec::new();
    let mut wants: BTreeMap<&str, usize> = BTreeMap::new();
    for (node, &count) in &before {
        let t = target[node];
        if count > t {
            let mut mine = movable.remove(node).unwrap_or_default();
            mine.sort_by(|a, b| a.user.cmp(&b.user));
            given.extend(mine.into_iter().take(count - t));
        } else if count < t {
            wants.insert(node, t - count);
        }
    }
    given.sort_by(|a, b| a.user.cmp(&b.user));
    // Each mailbox to the node still furthest below its target (then by name), so the moves
    // spread over the receivers in the order they are carried out.
    let mut after = before.clone();
    let mut moves = Vec::new();
    for m in given {
        let Some((&to, _)) = wants
            .iter()
            .filter(|(_, w)| **w > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            break;
        };
        *wants.get_mut(to).expect("chosen from it") -= 1;
        *after.get_mut(&m.home).expect("an active node") -= 1;
        *after.get_mut(to).expect("an active node") += 1;
        moves.push(Move {
            user: m.user.clone(),
            from: m.home.clone(),
            to: to.to_owned(),
        });
    }
    Plan {
        moves,
        before,
        after,
        left_alone,
    }
}

/// How far a rebalance's moves are, as `cluster rebalance` shows it while it follows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Moves asked for.
    pub total: usize,
    /// Moves done: the mailbox on its new node, its old copy removed.
    pub done: usize,
    /// Users whose move failed.
    pub failed: Vec<String>,
    /// Users whose move was cancelled or sent elsewhere.
    pub cancelled: Vec<String>,
}

impl Progress {
    /// Whether every move has ended, one way or another.
    pub fn finished(&self) -> bool {
        self.done + self.failed.len() + self.cancelled.len() >= self.total
    }

    /// One line for people, `elapsed_secs` after the moves were asked for:
    /// `moves 2/4, about 6 s left`.
    pub fn line(&self, elapsed_secs: f64) -> String {
        let mut line = format!("moves {}/{}", self.done, self.total);
        let ended = self.done + self.failed.len() + self.cancelled.len();
        if self.finished() {
            line.push_str(", done");
        } else if self.done > 0 {
            // By moves done so far; they run a few at a time per node, so this is rough.
            let left = elapsed_secs / ended as f64 * (self.total - ended) as f64;
            line.push_str(&format!(", about {left:.0} s left"));
        }
        if !self.failed.is_empty() {
            line.push_str(&format!(
                "; {} failed: {}",
                self.failed.len(),
                self.failed.join(", ")
            ));
        }
        if !self.cancelled.is_empty() {
            line.push_str(&format!(
                "; {} cancelled: {}",
                self.cancelled.len(),
                self.cancelled.join(", ")
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn on(home: &str, users: &[&str]) -> Vec<Mailbox> {
        users
            .iter()
            .map(|u| Mailbox {
                user: u.to_string(),
                home: home.into(),
                moving: MoveState::None,
            })
            .collect()
    }

    fn mv(user: &str, from: &str, to: &str) -> Move {
        Move {
            user: user.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    fn counts(c: &[(&str, usize)]) -> BTreeMap<String, usize> {
        c.iter().map(|(n, k)| (n.to_string(), *k)).collect()
    }

    #[test]
    fn seven_mailboxes_on_one_of_three_nodes_spread_three_two_two() {
        let users = ["a@x", "b@x", "c@x", "d@x", "e@x", "f@x", "g@x"];
        let p = plan(&nodes(&["n1", "n2", "n3"]), &on("n1", &users));
        assert_eq!(
            p.moves,
            [
                mv("a@x", "n1", "n2"),
                mv("b@x", "n1", "n3"),
                mv("c@x", "n1", "n2"),
                mv("d@x", "n1", "n3"),
            ]
        );
        assert_eq!(p.before, counts(&[("n1", 7), ("n2", 0), ("n3", 0)]));
        assert_eq!(p.after, counts(&[("n1", 3), ("n2", 2), ("n3", 2)]));
        assert!(p.even());
        assert_eq!(
            p.text(),
            "move a@x  n1 → n2\nmove b@x  n1 → n3\nmove c@x  n1 → n2\nmove d@x  n1 → n3\n\
             n1                            7 → 3 mailboxes\n\
             n2                            0 → 2 mailboxes\n\
             n3                            0 → 2 mailboxes\n"
        );
    }

    #[test]
    fn a_balanced_cluster_moves_nothing_and_the_remainder_stays_where_it_is() {
        // 3, 3, 2: within one already; 3, 2, 2, 1 → only one move, from a 3 to the 1.
        let mut m = on("n1", &["a@x", "b@x", "c@x"]);
        m.extend(on("n2", &["d@x", "e@x", "f@x"]));
        m.extend(on("n3", &["g@x", "h@x"]));
        assert!(plan(&nodes(&["n1", "n2", "n3"]), &m).moves.is_empty());
        m.extend(on("n4", &["i@x"]));
        m.retain(|b| b.user != "f@x");
        let p = plan(&nodes(&["n1", "n2", "n3", "n4"]), &m);
        assert_eq!(p.moves, [mv("a@x", "n1", "n4")]);
        assert_eq!(
            p.after,
            counts(&[("n1", 2), ("n2", 2), ("n3", 2), ("n4", 2)])
        );
    }

    #[test]
    fn the_fewest_moves_reach_counts_within_one() {
        // 10 over 4 nodes, 9/1/0/0: targets 3,3,2,2 with the extra ones on the fullest nodes.
        let users: Vec<String> = (0..9).map(|i| format!("u{i}@x")).collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let mut m = on("n1", &users);
        m.extend(on("n2", &["z@x"]));
        let p = plan(&nodes(&["n1", "n2", "n3", "n4"]), &m);
        assert_eq!(p.moves.len(), 6, "{:?}", p.moves);
        assert!(p.moves.iter().all(|m| m.from == "n1"));
        assert_eq!(
            p.after,
            counts(&[("n1", 3), ("n2", 3), ("n3", 2), ("n4", 2)])
        );
        assert!(p.even());
    }

    #[test]
    fn mailboxes_being_moved_stay_and_count_where_they_go_and_inactive_nodes_take_nothing() {
        // n1: 5 mailboxes, of which a@x is moving to n2 and b@x failed; drain@x is on a
        // draining node (not in the active list), moving to n3.
        let mut m = on("n1", &["a@x", "b@x", "c@x", "d@x", "e@x"]);
        m[0].moving = MoveState::UnderWay {
            to: Some("n2".into()),
        };
        m[1].moving = MoveState::Failed;
        m.push(Mailbox {
            user: "drain@x".into(),
            home: "n9".into(),
            moving: MoveState::UnderWay {
                to: Some("n3".into()),
            },
        });
        m.extend(on("n9", &["stay@x"]));
        let p = plan(&nodes(&["n1", "n2", "n3"]), &m);
        assert_eq!(p.before, counts(&[("n1", 4), ("n2", 1), ("n3", 1)]));
        assert_eq!(p.left_alone, 3);
        assert_eq!(p.moves, [mv("c@x", "n1", "n2"), mv("d@x", "n1", "n3")]);
        assert_eq!(p.after, counts(&[("n1", 2), ("n2", 2), ("n3", 2)]));
        assert!(p.even());
        assert!(p.moves.iter().all(|m| m.user != "a@x" && m.user != "b@x"));
    }

    #[test]
    fn a_node_held_up_by_moves_under_way_keeps_them_and_the_others_share_the_rest() {
        // n1 has 4 mailboxes, all failed or moving nowhere active; n2 has 4, n3 none.
        let mut m = on("n1", &["a@x", "b@x", "c@x", "d@x"]);
        for b in &mut m {
            b.moving = MoveState::Failed;
        }
        m.extend(on("n2", &["e@x", "f@x", "g@x", "h@x"]));
        let p = plan(&nodes(&["n1", "n2", "n3"]), &m);
        assert_eq!(p.moves, [mv("e@x", "n2", "n3"), mv("f@x", "n2", "n3")]);
        assert_eq!(p.after, counts(&[("n1", 4), ("n2", 2), ("n3", 2)]));
        assert!(!p.even(), "n1's failed moves keep it above the others");
    }

    #[test]
    fn one_node_or_none_moves_nothing_and_the_plan_is_the_same_each_time() {
        let m = on("n1", &["b@x", "a@x"]);
        assert!(plan(&nodes(&["n1"]), &m).moves.is_empty());
        assert!(plan(&[], &m).moves.is_empty());
        let mut shuffled = on("n1", &["d@x", "b@x", "a@x", "c@x"]);
        let a = plan(&nodes(&["n2", "n1"]), &shuffled);
        shuffled.reverse();
        assert_eq!(a, plan(&nodes(&["n1", "n2"]), &shuffled));
        assert_eq!(a.moves, [mv("a@x", "n1", "n2"), mv("b@x", "n1", "n2")]);
    }

    #[test]
    fn any_spread_ends_within_one_with_the_fewest_moves_from_full_to_empty_nodes() {
        // A fixed pseudo-random sequence (an LCG): many spreads over 1 to 6 nodes.
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let active: Vec<String> = (0..1 + next(6)).map(|i| format!("n{i}")).collect();
            let mut m = Vec::new();
            for (i, n) in active.iter().enumerate() {
                let users: Vec<String> = (0..next(12)).map(|k| format!("u{i}-{k}@x")).collect();
                m.extend(on(n, &users.iter().map(String::as_str).collect::<Vec<_>>()));
            }
            let p = plan(&active, &m);
            assert!(p.even(), "{p:?}");
            // The fewest: every node above total/n gives all it holds above that, except that
            // `total % n` of them may keep one more.
            let (total, n) = (m.len(), active.len());
            let (base, rem) = (total / n, total % n);
            let above: Vec<usize> = p.before.values().filter(|c| **c > base).copied().collect();
            let fewest = above.iter().map(|c| c - base).sum::<usize>() - rem.min(above.len());
            assert_eq!(p.moves.len(), fewest, "{p:?}");
            for mv in &p.moves {
                assert!(
                    p.before[&mv.from] > p.after[&mv.from],
                    "{mv:?} from a full node"
                );
                assert!(
                    p.before[&mv.to] < p.after[&mv.to],
                    "{mv:?} to an emptier node"
                );
            }
        }
    }

    #[test]
    fn progress_says_how_many_moves_are_done_and_about_how_long_is_left() {
        let mut p = Progress {
            total: 4,
            ..Default::default()
        };
        assert_eq!(p.line(1.0), "moves 0/4");
        p.done = 1;
        assert_eq!(p.line(5.0), "moves 1/4, about 15 s left");
        p.failed = vec!["c@x".into()];
        assert_eq!(p.line(6.0), "moves 1/4, about 6 s left; 1 failed: c@x");
        p.done = 3;
        assert!(p.finished());
        assert_eq!(p.line(9.0), "moves 3/4, done; 1 failed: c@x");
    }
}
