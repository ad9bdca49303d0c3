//! Following the directory's changes with the LDAP Content Synchronization operation
//! (RFC 4533, slapd's syncprov overlay) in refreshAndPersist mode: one search stays open and
//! slapd sends a message the moment an entry is added, changed or deleted.

use ldap3::controls::{MakeCritical, RefreshMode, SyncRequest};
use ldap3::{EntryStream, LdapResult, ResultEntry, Scope};

use crate::Result;
use crate::conn::Connection;
use crate::error::DirectoryError;

/// A message of the persistent search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMessage {
    /// An entry was added, changed or deleted (or, in the refresh phase, is present).
    Entry,
    /// A syncInfo message (the refresh is done, or a new cookie): nothing changed.
    Info,
}

/// What a message of the search is: an intermediate message (RFC 4511 §4.13) is a syncInfo;
/// anything else stands for an entry.
fn message(entry: &ResultEntry) -> SyncMessage {
    if entry.is_intermediate() {
        SyncMessage::Info
    } else {
        SyncMessage::Entry
    }
}

/// An open persistent search; it holds the connection until it ends.
pub struct Changes<'a> {
    stream: EntryStream<'static, 'a, &'static str, Vec<&'static str>>,
    base: String,
}

impl Connection {
    /// Starts a persistent search of every entry under `base` (no attributes). With a
    /// `cookie` naming a state of the directory slapd sends only what changed after it;
    /// without, every entry first.
    pub fn persistent_search(
        &mut self,
        base: &str,
        cookie: Option<Vec<u8>>,
    ) -> Result<Changes<'_>> {
        let request = SyncRequest {
            mode: RefreshMode::RefreshAndPersist,
            cookie,
            reload_hint: false,
        };
        let stream = self
            .ldap()
            .with_controls(request.critical())
            .streaming_search(base, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
            .map_err(|e| {
                DirectoryError::new(format!("start the persistent search of {base}"), e)
            })?;
        Ok(Changes {
            stream,
            base: base.to_owned(),
        })
    }
}

impl Changes<'_> {
    /// Waits for the next message; `None` when the search has ended (see [`Changes::finish`]).
    pub fn next_message(&mut self) -> Result<Option<SyncMessage>> {
        let entry = self
            .stream
            .next()
            .map_err(|e| DirectoryError::new(format!("persistent search of {}", self.base), e))?;
        Ok(entry.as_ref().map(message))
    }

    /// How the search ended: slapd's result.
    pub fn finish(self) -> LdapResult {
        self.stream.result()
    }
}

#[cfg(test)]
mod tests {
    use ldap3::asn1::TagClass;

    use super::*;
    use crate::error::tests::{entry, sequence};

    #[test]
    fn sync_info_is_told_from_entries() {
        assert_eq!(message(&entry("cn=a,o=x", "a")), SyncMessage::Entry);
        // IntermediateResponse: APPLICATION 25.
        let info = ResultEntry::new(sequence(25, TagClass::Application, Vec::new()));
        assert_eq!(message(&info), SyncMessage::Info);
    }
}
