//! One error type for every directory operation, and the one place that says what an LDAP
//! result code means to PigeonAir.

use ldap3::{LdapError, LdapResult, SearchEntry, SearchResult};

/// An LDAP result code (RFC 4511, appendix A) as PigeonAir reads it. The codes callers act on
/// have a name; any other is kept as the server sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0 success.
    Success,
    /// 16 noSuchAttribute: a value to delete is not there. In a compare-and-swap it means
    /// another writer changed the value first: read it again and retry.
    NoSuchAttribute,
    /// 20 attributeOrValueExists: an add of a value the attribute holds already.
    ValueExists,
    /// 32 noSuchObject: the entry, or a search's base, does not exist. A search answers it
    /// with no entries, and an existence check with "no".
    NoSuchObject,
    /// 49 invalidCredentials: wrong DN or password.
    InvalidCredentials,
    /// 50 insufficientAccessRights: the bound identity may not do this (the ACLs refuse it).
    InsufficientAccess,
    /// 68 entryAlreadyExists: an add of a DN that is there already.
    AlreadyExists,
    /// Any other code.
    Other(u32),
}

impl ResultCode {
    /// The code's meaning.
    pub const fn from_rc(rc: u32) -> Self {
        match rc {
            0 => ResultCode::Success,
            16 => ResultCode::NoSuchAttribute,
            20 => ResultCode::ValueExists,
            32 => ResultCode::NoSuchObject,
            49 => ResultCode::InvalidCredentials,
            50 => ResultCode::InsufficientAccess,
            68 => ResultCode::AlreadyExists,
            other => ResultCode::Other(other),
        }
    }

    /// The number on the wire.
    pub const fn rc(self) -> u32 {
        match self {
            ResultCode::Success => 0,
            ResultCode::NoSuchAttribute => 16,
            ResultCode::ValueExists => 20,
            ResultCode::NoSuchObject => 32,
            ResultCode::InvalidCredentials => 49,
            ResultCode::InsufficientAccess => 50,
            ResultCode::AlreadyExists => 68,
            ResultCode::Other(rc) => rc,
        }
    }
}

impl From<u32> for ResultCode {
    fn from(rc: u32) -> Self {
        ResultCode::from_rc(rc)
    }
}

/// A directory operation failed: what was being done (with the DN or URI), and why (the
/// server's result, or the connection's failure).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct DirectoryError {
    what: String,
    source: Box<LdapError>,
}

impl DirectoryError {
    /// `source` happened while doing `what` (e.g. "search ou=domains,o=pigeonair").
    pub fn new(what: impl Into<String>, source: LdapError) -> Self {
        DirectoryError {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// What was being done.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The same failure described in the caller's words ("add user alice@example.com"
    /// rather than the DN), for an operator who named a user, not a DN.
    pub fn described_as(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    /// The server's result code; `None` when there was no result (the connection failed,
    /// timed out, or the answer could not be read).
    pub fn code(&self) -> Option<ResultCode> {
        match &*self.source {
            LdapError::LdapResult { result } => Some(ResultCode::from_rc(result.rc)),
            _ => None,
        }
    }

    /// Whether the server answered with `code`.
    pub fn is(&self, code: ResultCode) -> bool {
        self.code() == Some(code)
    }

    /// The LDAP library's error.
    pub fn ldap(&self) -> &LdapError {
        &self.source
    }
}

/// An operation's result: done when the server said success.
pub(crate) fn done(
    what: impl FnOnce() -> String,
    res: ldap3::result::Result<LdapResult>,
) -> crate::Result<()> {
    res.and_then(LdapResult::success)
        .map(|_| ())
        .map_err(|e| DirectoryError::new(what(), e))
}

/// A search's result: its entries, or none when the base does not exist.
pub(crate) fn entries(
    what: impl FnOnce() -> String,
    res: ldap3::result::Result<SearchResult>,
) -> crate::Result<Vec<SearchEntry>> {
    match res.and_then(SearchResult::success) {
        Ok((entries, _)) => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
        Err(LdapError::LdapResult { result })
            if ResultCode::from_rc(result.rc) == ResultCode::NoSuchObject =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(DirectoryError::new(what(), e)),
    }
}

/// A compare-and-swap's result: `false` when the old value was gone (another writer won).
pub(crate) fn swapped(
    what: impl FnOnce() -> String,
    res: ldap3::result::Result<LdapResult>,
) -> crate::Result<bool> {
    match res.and_then(LdapResult::success) {
        Ok(_) => Ok(true),
        Err(LdapError::LdapResult { result })
            if ResultCode::from_rc(result.rc) == ResultCode::NoSuchAttribute =>
        {
            Ok(false)
        }
        Err(e) => Err(DirectoryError::new(what(), e)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ldap3::ResultEntry;
    use ldap3::asn1::{PL, StructureTag, TagClass};

    /// A result as slapd sends it, with code `rc`.
    pub(crate) fn result(rc: u32) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: String::new(),
            refs: Vec::new(),
            ctrls: Vec::new(),
        }
    }

    fn failed(rc: u32) -> LdapError {
        LdapError::LdapResult { result: result(rc) }
    }

    fn octets(s: &str) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(s.as_bytes().to_vec()),
        }
    }

    pub(crate) fn sequence(id: u64, class: TagClass, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    /// A SearchResultEntry (APPLICATION 4) for `dn` with one value of `cn`, as on the wire.
    pub(crate) fn entry(dn: &str, cn: &str) -> ResultEntry {
        let value_set = sequence(17, TagClass::Universal, vec![octets(cn)]);
        let attribute = sequence(16, TagClass::Universal, vec![octets("cn"), value_set]);
        let attributes = sequence(16, TagClass::Universal, vec![attribute]);
        ResultEntry::new(sequence(
            4,
            TagClass::Application,
            vec![octets(dn), attributes],
        ))
    }

    #[test]
    fn codes_round_trip_and_name_what_callers_act_on() {
        for rc in [0, 16, 20, 32, 49, 50, 68, 1, 53, 80] {
            assert_eq!(ResultCode::from_rc(rc).rc(), rc);
        }
        assert_eq!(ResultCode::from(32), ResultCode::NoSuchObject);
        assert_eq!(ResultCode::from(68), ResultCode::AlreadyExists);
        assert_eq!(ResultCode::from(50), ResultCode::InsufficientAccess);
        assert_eq!(ResultCode::from(53), ResultCode::Other(53));
    }

    #[test]
    fn an_error_says_what_and_why_and_keeps_the_code() {
        let e = DirectoryError::new("search ou=domains,o=pigeonair", failed(50));
        assert!(
            e.to_string()
                .starts_with("search ou=domains,o=pigeonair: LDAP operation result: rc=50"),
            "{e}"
        );
        assert_eq!(e.code(), Some(ResultCode::InsufficientAccess));
        assert!(e.is(ResultCode::InsufficientAccess));
        let e = e.described_as("add user alice@example.com");
        assert_eq!(e.what(), "add user alice@example.com");
        assert!(
            e.to_string().starts_with("add user alice@example.com: "),
            "{e}"
        );
        assert_eq!(e.code(), Some(ResultCode::InsufficientAccess));
        // No result at all: the connection failed.
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no socket");
        let e = DirectoryError::new("connect to ldapi://x", LdapError::from(io));
        assert_eq!(e.code(), None);
        assert!(!e.is(ResultCode::NoSuchObject));
    }

    #[test]
    fn a_search_of_a_missing_base_is_empty_and_other_failures_are_errors() {
        let what = || "search cn=gone,o=pigeonair".to_string();
        let found = entries(
            what,
            Ok(SearchResult(vec![entry("cn=a,o=x", "a")], result(0))),
        )
        .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].dn, "cn=a,o=x");
        assert_eq!(found[0].attrs["cn"], ["a"]);
        assert!(
            entries(what, Ok(SearchResult(Vec::new(), result(32))))
                .unwrap()
                .is_empty()
        );
        let e = entries(what, Ok(SearchResult(Vec::new(), result(50)))).unwrap_err();
        assert_eq!(e.what(), "search cn=gone,o=pigeonair");
        assert!(e.is(ResultCode::InsufficientAccess));
        assert!(entries(what, Err(failed(1))).is_err());
    }

    #[test]
    fn done_is_success_only() {
        assert!(done(|| "add x".into(), Ok(result(0))).is_ok());
        let e = done(|| "add x".into(), Ok(result(68))).unwrap_err();
        assert!(e.is(ResultCode::AlreadyExists));
        assert_eq!(e.what(), "add x");
    }

    #[test]
    fn a_swap_that_lost_the_race_is_false_not_an_error() {
        assert!(swapped(|| "cas".into(), Ok(result(0))).unwrap());
        assert!(!swapped(|| "cas".into(), Ok(result(16))).unwrap());
        assert!(!swapped(|| "cas".into(), Err(failed(16))).unwrap());
        assert!(swapped(|| "cas".into(), Ok(result(50))).is_err());
    }
}
