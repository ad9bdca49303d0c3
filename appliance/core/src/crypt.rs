//! Password hashes and random secrets.

use rand::Rng;
use rand::distributions::Alphanumeric;

/// SHA512-CRYPT of `password` with a random salt (`$6$…`), a scheme both slapd (`{CRYPT}`) and
/// Dovecot verify.
pub fn sha512_crypt(password: &str) -> String {
    // 5000 rounds is the scheme's default; the params are constant and valid.
    let params = sha_crypt::Sha512Params::new(5000).expect("5000 rounds are valid");
    sha_crypt::sha512_simple(password, &params).expect("hashing cannot fail with valid params")
}

/// Whether `password` matches a `$6$…` or `{CRYPT}$6$…` hash.
pub fn verify(password: &str, hash: &str) -> bool {
    let hash = hash.strip_prefix("{CRYPT}").unwrap_or(hash);
    sha_crypt::sha512_check(password, hash).is_ok()
}

/// A random secret of `len` letters and digits.
pub fn random_secret(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random UUID (version 4) as text, for mailbox ids.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies() {
        let h = sha512_crypt("correct horse");
        assert!(h.starts_with("$6$"));
        assert!(verify("correct horse", &h));
        assert!(verify("correct horse", &format!("{{CRYPT}}{h}")));
        assert!(!verify("wrong", &h));
    }

    #[test]
    fn uuid_shape() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, random_uuid());
    }
}
