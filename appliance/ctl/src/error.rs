//! What can go wrong, each with the exit code scripts see.

use pigeonair_directory::{DirectoryError, ResultCode};

/// An administrative operation failed. Nothing was changed unless the message says so.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A value given is not valid (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// What was named does not exist (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// What was to be made exists already (exit 4).
    #[error("{0}")]
    Exists(String),
    /// Refused: it would lose data, or the credentials may not do it (exit 5).
    #[error("{0}")]
    Refused(String),
    /// What was asked for was accepted but did not complete: a failed or unfinished move
    /// (exit 6).
    #[error("{0}")]
    Failed(String),
    /// The directory could not be reached or failed (exit 1).
    #[error("directory: {0}")]
    Directory(DirectoryError),
}

impl CtlError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Invalid(_) => 2,
            CtlError::NotFound(_) => 3,
            CtlError::Exists(_) => 4,
            CtlError::Refused(_) => 5,
            CtlError::Failed(_) => 6,
            CtlError::Directory(_) => 1,
        }
    }

    /// Wraps a directory error, described as `what` (the operator's words: "add user …").
    pub fn ldap(what: impl Into<String>) -> impl FnOnce(DirectoryError) -> CtlError {
        let what = what.into();
        move |e| e.described_as(what).into()
    }
}

impl From<DirectoryError> for CtlError {
    /// Turns "insufficient access" and "invalid credentials" into [`CtlError::Refused`].
    fn from(e: DirectoryError) -> Self {
        match e.code() {
            Some(ResultCode::InsufficientAccess) => CtlError::Refused(format!(
                "{}: the directory refused it (insufficient access): bind as an administrator",
                e.what()
            )),
            Some(ResultCode::InvalidCredentials) => {
                CtlError::Refused(format!("{}: invalid credentials", e.what()))
            }
            _ => CtlError::Directory(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(what: &str, rc: u32) -> DirectoryError {
        DirectoryError::new(
            what,
            pigeonair_directory::LdapError::LdapResult {
                result: pigeonair_directory::LdapResult {
                    rc,
                    matched: String::new(),
                    text: String::new(),
                    refs: Vec::new(),
                    ctrls: Vec::new(),
                },
            },
        )
    }

    #[test]
    fn access_and_credentials_are_refusals_the_rest_directory_failures() {
        let e = CtlError::ldap("add domain remote.example")(failed("add cn=remote.example", 50));
        assert_eq!(e.exit_code(), 5);
        assert_eq!(
            e.to_string(),
            "add domain remote.example: the directory refused it (insufficient access): \
             bind as an administrator"
        );
        let e = CtlError::from(failed("bind as cn=admin,ou=admins,o=pigeonair", 49));
        assert_eq!(e.exit_code(), 5);
        assert_eq!(
            e.to_string(),
            "bind as cn=admin,ou=admins,o=pigeonair: invalid credentials"
        );
        let e = CtlError::from(failed("search ou=domains,o=pigeonair", 80));
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string().starts_with(
                "directory: search ou=domains,o=pigeonair: LDAP operation result: rc=80"
            ),
            "{e}"
        );
    }
}
