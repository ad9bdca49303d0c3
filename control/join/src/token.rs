//! Join tokens: `PA1.<id>.<secret>.<ca fingerprint>@<address:port>`.
//!
//! One word an operator copies from `pigeonctl node token` into the joining node's answers. The
//! three middle parts are base64url without padding (so none contains a `.` or an `@`); the
//! address after the last `@` is a member's private address and control-plane port (IPv6 in
//! brackets). The id is public (it names the token in `--list` and `--revoke`); the secret is
//! shown once and the directory keeps only its SHA-256 ([`secret_hash`]).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every token starts with: the format's name and version.
pub const PREFIX: &str = "PA1.";
/// Bytes of the id (8 base64url characters).
const ID_BYTES: usize = 6;
/// Bytes of the secret (43 base64url characters).
const SECRET_BYTES: usize = 32;

/// A token's public id: 8 base64url characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// Checks an id given on a command line or read from the directory.
    pub fn try_new(s: &str) -> Result<Self, TokenError> {
        decode_exact::<ID_BYTES>(s).map_err(|_| TokenError::Id(s.to_owned()))?;
        Ok(TokenId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 of a certificate's DER encoding: how a joining node pins the cluster CA.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The fingerprint of the first certificate in a PEM text.
    pub fn of_pem(pem: &[u8]) -> Result<Self, openssl::error::ErrorStack> {
        let cert = openssl::x509::X509::from_pem(pem)?;
        Ok(Fingerprint::of_der(&cert.to_der()?))
    }

    /// `sha256:` and lower-case hex with colons, as `openssl x509 -fingerprint -sha256` shows
    /// it (without the colons' upper case), for the operator to compare by eye.
    pub fn to_hex(&self) -> String {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{}", hex.join(":"))
    }

    /// Upper-case hex with colons (`D0:A0:…`, 95 characters): the part after `=` of
    /// [`Fingerprint::to_openssl`].
    pub fn colon_hex(&self) -> String {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// Exactly the line `openssl x509 -noout -fingerprint -sha256 -in ca.crt` (OpenSSL 3)
    /// prints for the certificate, so an operator can compare it on a member letter by letter.
    pub fn to_openssl(&self) -> String {
        format!("sha256 Fingerprint={}", self.colon_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A join token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// Its public id.
    pub id: TokenId,
    /// The secret the joining node proves it holds.
    pub secret: [u8; SECRET_BYTES],
    /// The cluster CA the member must present.
    pub ca: Fingerprint,
    /// A member's private address and control-plane port.
    pub via: SocketAddr,
}

impl Token {
    /// A new token with a random id and secret.
    pub fn generate(via: SocketAddr, ca: Fingerprint) -> Self {
        let mut rng = rand::thread_rng();
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        // An id is typed after `--revoke` and shown in lists: it never begins with `-` or
        // `_` (the first character is the first byte's top six bits; 62 and 63 are those).
        loop {
            rng.fill_bytes(&mut id);
            if id[0] >> 2 < 62 {
                break;
            }
        }
        rng.fill_bytes(&mut secret);
        Token {
            id: TokenId(URL_SAFE_NO_PAD.encode(id)),
            secret,
            ca,
            via,
        }
    }

    /// The secret as the request carries it (base64url).
    pub fn secret_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret)
    }
}

/// What the directory stores for a token's secret: lower-case hex SHA-256 of its 32 bytes.
pub fn secret_hash(secret: &[u8]) -> String {
    Sha256::digest(secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decodes the base64url secret of a request; `None` when it is not 32 bytes.
pub fn decode_secret(text: &str) -> Option<[u8; SECRET_BYTES]> {
    decode_exact::<SECRET_BYTES>(text).ok()
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret: tokens end up in logs by way of Debug.
        f.debug_struct("Token")
            .field("id", &self.id)
            .field("ca", &self.ca)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}.{}.{}@{}",
            self.id,
            URL_SAFE_NO_PAD.encode(self.secret),
            URL_SAFE_NO_PAD.encode(self.ca.0),
            self.via
        )
    }
}

/// Why a token (or a token id) was not accepted. Each message names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a PigeonAir join token at all (or an unknown version).
    #[error(
        "the join token does not start with {PREFIX:?}: copy the whole line `pigeonctl node token` printed"
    )]
    Prefix,
    /// Not `id.secret.fingerprint@address`.
    #[error(
        "the join token is not PA1.ID.SECRET.CA@ADDRESS:PORT ({0}): copy the whole line `pigeonctl node token` printed"
    )]
    Shape(&'static str),
    /// The id part.
    #[error(
        "token id {0:?} is not 8 base64url characters (as `pigeonctl node token --list` shows them)"
    )]
    Id(String),
    /// The secret part.
    #[error("the join token's secret is not 43 base64url characters: the token was cut or changed")]
    Secret,
    /// The fingerprint part.
    #[error(
        "the join token's CA fingerprint is not 43 base64url characters: the token was cut or changed"
    )]
    Fingerprint,
    /// The address part.
    #[error(
        "the join token's address {0:?} is not ADDRESS:PORT (a member's private address and port)"
    )]
    Address(String),
}

fn decode_exact<const N: usize>(s: &str) -> Result<[u8; N], ()> {
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| ())?;
    let arr: [u8; N] = bytes.try_into().map_err(|_| ())?;
    // Only the canonical text: a different string for the same bytes is not the same token.
    if URL_SAFE_NO_PAD.encode(arr) != s {
        return Err(());
    }
    Ok(arr)
}

impl FromStr for Token {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let rest = s.strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
        let (parts, via) = rest
            .rsplit_once('@')
            .ok_or(TokenError::Shape("no @ before the address"))?;
        let parts: Vec<&str> = parts.split('.').collect();
        let [id, secret, ca] = parts[..] else {
            return Err(TokenError::Shape("not three parts between PA1. and @"));
        };
        let id = TokenId::try_new(id)?;
        let secret = decode_exact::<SECRET_BYTES>(secret).map_err(|_| TokenError::Secret)?;
        let ca = decode_exact::<32>(ca).map_err(|_| TokenError::Fingerprint)?;
        let via: SocketAddr = via
            .parse()
            .map_err(|_| TokenError::Address(via.to_owned()))?;
        if via.port() == 0 || via.ip().is_unspecified() {
            return Err(TokenError::Address(via.to_string()));
        }
        Ok(Token {
            id,
            secret,
            ca: Fingerprint(ca),
            via,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Token {
        Token {
            id: TokenId::try_new("AAECAwQF").unwrap(),
            secret: [7u8; 32],
            ca: Fingerprint([0xab; 32]),
            via: "10.42.0.11:7443".parse().unwrap(),
        }
    }

    #[test]
    fn a_new_id_never_begins_like_an_option() {
        let ca = Fingerprint([7; 32]);
        let via: SocketAddr = "10.42.0.11:7443".parse().unwrap();
        // One id in 32 began with `-` or `_` before: 2,000 draws would all but surely show one.
        for _ in 0..2000 {
            let t = Token::generate(via, ca);
            assert!(!t.id.as_str().starts_with(['-', '_']), "{}", t.id);
            assert!(TokenId::try_new(t.id.as_str()).is_ok());
        }
    }

    #[test]
    fn text_is_stable_and_round_trips() {
        let t = sample();
        let text = t.to_string();
        assert_eq!(
            text,
            "PA1.AAECAwQF.BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc.q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s@10.42.0.11:7443"
        );
        assert_eq!(text.parse::<Token>().unwrap(), t);
        // Surrounding white space (a copied line) is fine.
        assert_eq!(format!("  {text}\n").parse::<Token>().unwrap(), t);
    }

    #[test]
    fn ipv6_addresses_round_trip() {
        let mut t = sample();
        t.via = "[fd00::1]:7443".parse().unwrap();
        assert_eq!(t.to_string().parse::<Token>().unwrap(), t);
    }

    #[test]
    fn generated_tokens_differ_and_parse() {
        let ca = Fingerprint([1; 32]);
        let via: SocketAddr = "10.42.0.11:7443".parse().unwrap();
        let a = Token::generate(via, ca);
        let b = Token::generate(via, ca);
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.to_string().parse::<Token>().unwrap(), a);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = sample();
        let shown = format!("{t:?}");
        assert!(!shown.contains(&t.secret_text()), "{shown}");
        assert!(shown.contains("AAECAwQF"));
    }

    #[test]
    fn each_bad_part_is_named() {
        let good = sample().to_string();
        let cases: Vec<(String, TokenError)> = vec![
            ("K10abc::server:xyz".into(), TokenError::Prefix),
            (
                good.replace('@', "#"),
                TokenError::Shape("no @ before the address"),
            ),
            (
                good.replacen(".", "..", 2),
                TokenError::Shape("not three parts between PA1. and @"),
            ),
            (
                good.replace("AAECAwQF", "AAECAwQ"),
                TokenError::Id("AAECAwQ".into()),
            ),
            (
                good.replace("BwcHBwcHBwcHBwc.", "BwcHBwcHBwcHBw."),
                TokenError::Secret,
            ),
            (good.replace("q6s@", "q6@"), TokenError::Fingerprint),
            (
                good.replace("10.42.0.11:7443", "mx1:7443"),
                TokenError::Address("mx1:7443".into()),
            ),
            (
                good.replace("10.42.0.11:7443", "10.42.0.11"),
                TokenError::Address("10.42.0.11".into()),
            ),
            (
                good.replace("10.42.0.11:7443", "0.0.0.0:7443"),
                TokenError::Address("0.0.0.0:7443".into()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Token>().unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn secret_hash_is_hex_sha256() {
        // echo -n '' | sha256sum
        assert_eq!(
            secret_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn fingerprint_is_the_line_openssl_prints() {
        // `openssl x509 -noout -fingerprint -sha256 -in ca-openssl.pem` (OpenSSL 3.0.19)
        // printed this line for this certificate.
        let pem = include_bytes!("../tests/resources/ca-openssl.pem");
        let f = Fingerprint::of_pem(pem).unwrap();
        assert_eq!(
            f.to_openssl(),
            "sha256 Fingerprint=D0:A0:73:3A:B2:6C:9F:7C:EF:23:E2:AE:FE:51:F7:69:64:C2:7D:96:7A:20:55:E4:03:4C:11:3C:5E:2A:42:7C"
        );
        assert_eq!(
            f.to_hex(),
            "sha256:d0:a0:73:3a:b2:6c:9f:7c:ef:23:e2:ae:fe:51:f7:69:64:c2:7d:96:7a:20:55:e4:03:4c:11:3c:5e:2a:42:7c"
        );
        assert_eq!(f.colon_hex().len(), 32 * 3 - 1);
    }

    #[test]
    fn fingerprint_hex_reads_like_openssl() {
        let f = Fingerprint([0x0f; 32]);
        assert!(f.to_hex().starts_with("sha256:0f:0f:"));
        assert_eq!(f.to_hex().len(), "sha256:".len() + 32 * 3 - 1);
    }
}
