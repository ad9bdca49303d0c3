//! slapd's configuration as a complete cn=config LDIF. Apply builds `/etc/ldap/slapd.d` from it
//! with `slapadd -n0`, checks it with `slaptest`, and swaps it in only if it passes.

use super::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY, RenderedFile, Unit};
use crate::directory::{
    ADMINS_DN, BASE_DN, DOMAINS_DN, DOVECOT_DN, LOCAL_ROOT_DN, NODES_DN, POSTFIX_DN,
};
use crate::plan::{Plan, Role};

/// Where the rendered cn=config LDIF is kept (the source apply builds slapd.d from).
pub const SLAPD_LDIF: &str = "/etc/pigeonair/slapd.ldif";
/// slapd's configuration directory.
pub const SLAPD_D: &str = "/etc/ldap/slapd.d";
/// The directory's database.
pub const SLAPD_DB: &str = "/var/lib/ldap";

/// PigeonAir's schema (cn=config form).
pub const SCHEMA_LDIF: &str = include_str!("../../schema/pigeonair.ldif");

/// Attributes Postfix reads: routing only, never passwords.
const POSTFIX_READS: &str = "entry,objectClass,cn,ou,aliasedObjectName,mail,mailLocalAddress,mailHost,pigeonairMailboxId,\
pigeonairAccountStatus,pigeonairEnabledService,pigeonairAliasTarget,pigeonairAliasDomainOf,\
pigeonairForwardTo,pigeonairKeepCopy";

/// slapd's files for `plan`: the cn=config LDIF and `/etc/default/slapd` (what to listen on).
pub fn render(plan: &Plan) -> Vec<RenderedFile> {
    let defaults = format!(
        "# Written by pigeonair-install.\nSLAPD_CONF=/etc/ldap/slapd.d\nSLAPD_USER=\"openldap\"\n\
         SLAPD_GROUP=\"openldap\"\nSLAPD_PIDFILE=\nSLAPD_SENTINEL_FILE=/etc/ldap/noslapd\n\
         SLAPD_OPTIONS=\"\"\n\
         # Local clients over ldapi and loopback; peers (replication) on the private network.\n\
         SLAPD_SERVICES=\"ldapi:/// ldap://127.0.0.1/ ldap://{}/\"\n",
        plan.private.address.addr()
    );
    vec![
        config_ldif(plan),
        RenderedFile::public("/etc/default/slapd", defaults, Unit::Slapd),
    ]
}

/// The cn=config LDIF. Three choices worth knowing:
/// - `olcLogLevel: none`: per-operation logging (`stats`) costs a journal write for every search,
///   about 18 of them per delivered message; for debugging, set it at run time with
///   `ldapmodify -Y EXTERNAL -H ldapi:///` (it lasts until the next apply changes this file);
/// - syncprov on the database keeps `contextCSN` on the suffix, which pigeonaird polls to see
///   that the directory changed (and which replication needs);
/// - the monitor database (read by local root only) counts operations: `cn=Search,
///   cn=Operations,cn=Monitor` is how tests and benchmarks count searches per message.
///
/// Between nodes, slapd speaks TLS with the node's cluster certificate and asks peers for
/// theirs (`olcTLSVerifyClient: try`); a peer that binds with SASL EXTERNAL is the node its
/// certificate names (`cn=HOST` → `cn=HOST,ou=nodes,…`), which reads and writes everything:
/// that is how a replica follows the provider, and how writes made on a replica reach it.
///
/// On a node that joined, the database is a syncrepl consumer of the provider
/// (refreshAndPersist over StartTLS, certificates checked both ways), its root DN is an identity
/// nobody can bind as (so local root's writes are not applied to the replica alone: they are
/// referred), and the chain overlay forwards those writes to the provider as this node. A
/// replica does not fsync each write (`olcDbNoSync`): LMDB stays consistent after a crash and
/// whatever the last moments lost comes again from the provider, while the first copy of a
/// large directory goes several times faster.
fn config_ldif(plan: &Plan) -> RenderedFile {
    let admins = format!("dn.children=\"{ADMINS_DN}\"");
    let nodes = format!("dn.children=\"{NODES_DN}\"");
    let root = format!("dn.exact=\"{LOCAL_ROOT_DN}\"");
    // `tls_crlcheck=none` said outright: slapd gives the connections it makes the server's own
    // TLS settings for what they leave unset, and once pigeonaird has the server check client
    // certificates against the revocation list (olcTLSCRLCheck: peer, with the list in the CA
    // file) these connections would check too, against ca.crt, which holds no list: every
    // StartTLS to the provider would fail after slapd's next restart. Removed nodes never hold
    // a provider's certificate; the provider checks this node's.
    let tls = format!(
        "tls_cert={CLUSTER_CERT} tls_key={CLUSTER_KEY} tls_cacert={CLUSTER_CA_CERT} \
         tls_reqcert=demand tls_crlcheck=none"
    );
    let (root_dn, replica, chain) = match &plan.role {
        Role::First { .. } => (LOCAL_ROOT_DN.to_owned(), String::new(), String::new()),
        Role::Joined { provider } => (
            format!("cn=replicator,{BASE_DN}"),
            format!(
                "olcSyncrepl: {{0}}rid=001 provider=ldap://{provider}/ bindmethod=sasl saslmech=EXTERNAL \
                 starttls=critical {tls} searchbase=\"{BASE_DN}\" type=refreshAndPersist \
                 retry=\"1 +\" timeout=10 network-timeout=5\nolcUpdateRef: ldap://{provider}/\n\
                 olcDbNoSync: TRUE\n"
            ),
            format!(
                r#"
dn: olcOverlay={{0}}chain,olcDatabase={{-1}}frontend,cn=config
objectClass: olcOverlayConfig
objectClass: olcChainConfig
olcOverlay: {{0}}chain
olcChainReturnError: TRUE

dn: olcDatabase={{0}}ldap,olcOverlay={{0}}chain,olcDatabase={{-1}}frontend,cn=config
objectClass: olcLDAPConfig
objectClass: olcChainDatabase
olcDatabase: {{0}}ldap
olcDbURI: "ldap://{provider}/"
olcDbStartTLS: start {tls}
olcDbIDAssertBind: mode=none bindmethod=sasl saslmech=EXTERNAL starttls=critical {tls}
olcDbRebindAsUser: FALSE
"#
            ),
        ),
    };
    let schema = SCHEMA_LDIF
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            if l == "dn: cn=pigeonair,cn=schema,cn=config" {
                "dn: cn={5}pigeonair,cn=schema,cn=config".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!(
        r#"# Written by pigeonair-install: slapd's cn=config. Edits are replaced on the next apply.
dn: cn=config
objectClass: olcGlobal
cn: config
olcArgsFile: /run/slapd/slapd.args
olcPidFile: /run/slapd/slapd.pid
olcLogLevel: none
olcDisallows: bind_anon
olcRequires: authc
olcTLSCertificateFile: {CLUSTER_CERT}
olcTLSCertificateKeyFile: {CLUSTER_KEY}
olcTLSCACertificateFile: {CLUSTER_CA_CERT}
olcTLSVerifyClient: try
olcTLSProtocolMin: 3.3
olcAuthzRegexp: {{0}}"^cn=([^,=]+)$" "cn=$1,{NODES_DN}"
olcPasswordCryptSaltFormat: $6$%.16s

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}syncprov
olcModuleLoad: {{2}}back_ldap

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/misc.ldif

{schema}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcPasswordHash: {{CRYPT}}
olcSizeLimit: 1000
olcAccess: {{0}}to * by {root} manage by * break
olcAccess: {{1}}to dn.exact="" by * read
olcAccess: {{2}}to dn.base="cn=Subschema" by * read
{chain}
dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: {LOCAL_ROOT_DN}
olcAccess: {{0}}to * by {root} manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {root_dn}
olcDbDirectory: {SLAPD_DB}
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: cn eq
olcDbIndex: mail eq,sub
olcDbIndex: mailLocalAddress eq
olcDbIndex: uidNumber eq
olcDbIndex: pigeonairMailboxId eq
olcDbIndex: pigeonairAliasTarget eq
olcDbIndex: pigeonairAccountStatus eq
olcDbIndex: mailHost eq
olcDbIndex: pigeonairMoveTo eq
olcDbIndex: pigeonairMoveFrom eq
olcDbIndex: entryCSN eq
olcDbIndex: entryUUID eq
{replica}olcLimits: {{0}}{nodes} size=unlimited time=unlimited
olcAccess: {{0}}to attrs=userPassword by {root} manage by {admins} write by {nodes} write by dn.exact="{DOVECOT_DN}" read by anonymous auth by * none
olcAccess: {{1}}to dn.subtree="{DOMAINS_DN}" attrs={POSTFIX_READS} by {root} manage by {admins} write by {nodes} write by dn.exact="{POSTFIX_DN}" read by dn.exact="{DOVECOT_DN}" read by * none
olcAccess: {{2}}to dn.subtree="{DOMAINS_DN}" by {root} manage by {admins} write by {nodes} write by dn.exact="{DOVECOT_DN}" read by * none
olcAccess: {{3}}to dn.subtree="{NODES_DN}" by {root} manage by {admins} write by {nodes} write by dn.exact="{POSTFIX_DN}" read by dn.exact="{DOVECOT_DN}" read by * none
olcAccess: {{4}}to * by {root} manage by {admins} write by {nodes} write by * none

dn: olcOverlay={{0}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{0}}syncprov
olcSpCheckpoint: 100 1

dn: olcDatabase={{2}}monitor,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{2}}monitor
olcAccess: {{0}}to * by {root} read by * none
"#
    );
    RenderedFile {
        path: SLAPD_LDIF.into(),
        contents: text,
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        unit: Unit::Slapd,
    }
}
