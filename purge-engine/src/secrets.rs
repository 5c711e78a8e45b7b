//! Secrets nova-purge has seen (database passwords, from URLs and nova.conf)
//! and a scrubber that blanks them out of any text. Redaction at the source
//! (`DatabaseUrl::redacted`) keeps them out of reports and messages; the
//! scrubber is the second line, applied by the command line to everything
//! it prints and logs, in case a driver or a server echoes one back.

use std::sync::{Mutex, MutexGuard};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Shorter secrets are not scrubbed: blanking every `ab` in a report would
/// mangle it and hide nothing an attacker could not guess.
const SHORTEST: usize = 3;

static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn known() -> MutexGuard<'static, Vec<String>> {
    KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers `secret` (and its percent-encoded form) for [`scrub`].
pub fn register(secret: &str) {
    if secret.chars().count() < SHORTEST {
        return;
    }
    let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
    let mut known = known();
    for form in [secret.to_owned(), encoded] {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so that a secret containing another is blanked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let known = known();
    let mut text = text.to_owned();
    for secret in known.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// True for query options whose values are credentials, whatever the
/// driver calls them (`password`, `passwd`, `sslpassword`, ...).
pub fn is_credential_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_blanked_in_any_form() {
        register("s3cret/pw");
        assert_eq!(scrub("Access denied (s3cret/pw)"), "Access denied (***)");
        assert_eq!(scrub("url: u:s3cret%2Fpw@h"), "url: u:***@h");
        register("xy");
        assert_eq!(scrub("xy"), "xy", "too short to scrub");
    }

    #[test]
    fn credential_options_are_recognised() {
        for key in [
            "password",
            "PASSWD",
            "sslpassword",
            "ssl-key-password",
            "token",
        ] {
            assert!(is_credential_option(key), "{key}");
        }
        for key in ["sslmode", "ssl-ca", "charset", "host"] {
            assert!(!is_credential_option(key), "{key}");
        }
    }
}
