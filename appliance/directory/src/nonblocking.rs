//! The asynchronous connection (tokio), for many operations in flight at once: an import
//! keeps several adds on the wire so slapd works on one while the next arrives.

use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};

use crate::Result;
use crate::conn::{Credentials, connecting, settings};
use crate::entry::Attrs;
use crate::error::{DirectoryError, done, entries};

/// An asynchronous connection to the directory. Clones share the connection; each clone can
/// have its own operation in flight.
#[derive(Clone)]
pub struct AsyncConnection {
    ldap: Ldap,
    uri: String,
}

impl AsyncConnection {
    /// Connects to `uri`, waiting at most `timeout` for the connection when given; not yet
    /// bound. Must run inside a tokio runtime with IO enabled: the connection is driven by a
    /// task spawned on it.
    pub async fn open(uri: &str, timeout: Option<Duration>) -> Result<Self> {
        let (conn, ldap) = LdapConnAsync::with_settings(settings(timeout), uri)
            .await
            .map_err(|e| DirectoryError::new(connecting(uri), e))?;
        ldap3::drive!(conn);
        Ok(AsyncConnection {
            ldap,
            uri: uri.to_owned(),
        })
    }

    /// Connects to `uri` and binds with `creds`.
    pub async fn connect(uri: &str, creds: &Credentials) -> Result<Self> {
        let mut conn = AsyncConnection::open(uri, None).await?;
        conn.bind(creds).await?;
        Ok(conn)
    }

    /// Authenticates the connection (every clone): SASL EXTERNAL for
    /// [`Credentials::LocalRoot`], a simple bind otherwise.
    pub async fn bind(&mut self, creds: &Credentials) -> Result<()> {
        let res = match creds {
            Credentials::LocalRoot => self.ldap.sasl_external_bind().await,
            Credentials::Password { dn, password } => self.ldap.simple_bind(dn, password).await,
        };
        done(|| creds.binding(), res)
    }

    /// The URI it is connected to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// As [`Connection::search`](crate::Connection::search).
    pub async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>> {
        let res = self.ldap.search(base, scope, filter, attrs.to_vec()).await;
        entries(|| format!("search {base}"), res)
    }

    /// Adds `dn` with `attrs`.
    pub async fn add(&mut self, dn: &str, attrs: Attrs) -> Result<()> {
        let res = self.ldap.add(dn, attrs).await;
        done(|| format!("add {dn}"), res)
    }
}
