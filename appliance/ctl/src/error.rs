//! What can go wrong, each with the exit code scripts see.

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
    /// The directory could not be reached or failed (exit 1).
    #[error("directory: {what}: {source}")]
    Ldap {
        /// What was being done.
        what: String,
        /// Why.
        source: Box<ldap3::LdapError>,
    },
}

impl CtlError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Invalid(_) => 2,
            CtlError::NotFound(_) => 3,
            CtlError::Exists(_) => 4,
            CtlError::Refused(_) => 5,
            CtlError::Ldap { .. } => 1,
        }
    }

    /// Wraps an LDAP error, turning "insufficient access" into [`CtlError::Refused`].
    pub fn ldap(what: impl Into<String>) -> impl FnOnce(ldap3::LdapError) -> CtlError {
        let what = what.into();
        move |source| match &source {
            ldap3::LdapError::LdapResult { result } if result.rc == 50 => {
                CtlError::Refused(format!(
                    "{what}: the directory refused it (insufficient access): bind as an administrator"
                ))
            }
            ldap3::LdapError::LdapResult { result } if result.rc == 49 => {
                CtlError::Refused(format!("{what}: invalid credentials"))
            }
            _ => CtlError::Ldap {
                what,
                source: Box::new(source),
            },
        }
    }
}
