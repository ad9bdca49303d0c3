//! Watching the directory for changes with the LDAP Content Synchronization operation (RFC 4533,
//! slapd's syncprov overlay): one search in refreshAndPersist mode stays open, and slapd sends
//! a message the moment any entry is added, changed or deleted.
//!
//! To skip the refresh phase (which would send every entry of the directory) the search starts
//! from a cookie naming the directory's current state, the suffix's `contextCSN`, read just
//! before: slapd then sends only what changes after it.
//!
//! [`Pending`] coalesces changes into flushes: a burst of writes (an import of 100,000 users)
//! costs a handful of flushes, not one per entry.

/// The Sync Request cookie for a directory whose suffix has these `contextCSN` values: slapd
/// sends what changed after them (`rid` is ours to pick; slapd echoes it).
pub fn cookie(context_csns: &[String]) -> Vec<u8> {
    let mut csns = context_csns.to_vec();
    csns.sort();
    format!("rid=000,csn={}", csns.join(";")).into_bytes()
}

/// Flushes asked for and not yet done. A change that comes while a flush runs asks for one
/// more flush after it (the running one may have missed it); any number of changes before a
/// flush starts ask for just one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    asked: u64,
    done: u64,
}

impl Pending {
    /// Nothing asked for yet.
    pub fn new() -> Self {
        Pending::default()
    }

    /// Something changed: a flush is needed.
    pub fn ask(&mut self) {
        self.asked += 1;
    }

    /// A flush to run, if any is asked for: returns the ask it covers, for [`Pending::done`].
    pub fn take(&self) -> Option<u64> {
        (self.asked > self.done).then_some(self.asked)
    }

    /// The flush that started when `covers` was taken succeeded.
    pub fn done(&mut self, covers: u64) {
        self.done = self.done.max(covers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_names_every_server_id_in_order() {
        assert_eq!(
            cookie(&["20261201092302.173532Z#000000#000#000000".into()]),
            b"rid=000,csn=20261201092302.173532Z#000000#000#000000".to_vec()
        );
        assert_eq!(
            cookie(&["b#002".into(), "a#001".into()]),
            b"rid=000,csn=a#001;b#002".to_vec()
        );
    }

    #[test]
    fn changes_coalesce_and_one_during_a_flush_asks_again() {
        let mut p = Pending::new();
        assert_eq!(p.take(), None);
        p.ask();
        p.ask();
        p.ask();
        let first = p.take().expect("asked");
        // A change arrives while that flush runs.
        p.ask();
        p.done(first);
        let second = p.take().expect("the change during the flush asks again");
        p.done(second);
        assert_eq!(p.take(), None);
        // A failed flush (no done) is taken again.
        p.ask();
        let t = p.take().unwrap();
        assert_eq!(p.take(), Some(t));
    }
}
