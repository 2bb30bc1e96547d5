//! Logins seen in clear (FTP, POP3, IMAP, Telnet, HTTP Basic and forms,
//! MQTT): the `login` finding the protocols share, and the decoding they
//! share (command lines, base64, SASL PLAIN).
//!
//! A password is never put in a finding: it is compared with the user name
//! and hashed to be looked up among vendor defaults, then dropped. The user
//! name is an identity and is kept, unless it is the password too.

use super::{About, Finding, Knowledge, ParseError};
use crate::credentials::DefaultCredential;

/// Longest user name kept.
const MAX_USER: usize = 256;
/// Attempts kept per connection (a brute force makes many).
pub const MAX_ATTEMPTS: usize = 32;

/// One password (or digest) sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// How: `user_pass`, `apop`, `login`, `plain`, `sasl_login`, `prompt`, `basic`, `form`, `connect`.
    pub mechanism: &'static str,
    /// The user name (may be empty).
    pub user: &'a [u8],
    /// Whether `user` is surely a user name and may be shown: a Telnet line
    /// typed ahead of its prompt might be the password.
    pub user_known: bool,
    /// The password, when it crossed in clear (APOP sends a digest).
    pub password: Option<&'a [u8]>,
    /// FTP's anonymous login: the "password" is an e-mail address by convention.
    pub anonymous: bool,
}

/// What is kept of an attempt: no password, and the user name only when
/// it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Judged<'k> {
    mechanism: &'static str,
    username: Option<String>,
    password_is_username: bool,
    cleartext: bool,
    anonymous: bool,
    default: Option<&'k DefaultCredential>,
}

/// The attempts of one connection, judged as they come (so that a decoded
/// password is dropped at once), bounded.
#[derive(Debug)]
pub struct Attempts<'k> {
    knowledge: &'k Knowledge,
    kept: Vec<Judged<'k>>,
    /// All attempts, kept or not.
    total: u64,
}

impl<'k> Attempts<'k> {
    pub fn new(knowledge: &'k Knowledge) -> Attempts<'k> {
        Attempts {
            knowledge,
            kept: Vec::new(),
            total: 0,
        }
    }

    pub fn push(&mut self, attempt: Attempt<'_>) {
        self.total += 1;
        if self.kept.len() >= MAX_ATTEMPTS {
            return;
        }
        let password_is_username =
            attempt.password == Some(attempt.user) && !attempt.user.is_empty();
        let username = (attempt.user_known && !password_is_username && !attempt.user.is_empty())
            .then(|| {
                String::from_utf8_lossy(attempt.user)
                    .chars()
                    .take(MAX_USER)
                    .collect()
            });
        let default = attempt
            .password
            .and_then(|p| self.knowledge.default_credentials.find(attempt.user, p));
        self.kept.push(Judged {
            mechanism: attempt.mechanism,
            username,
            password_is_username,
            cleartext: attempt.password.is_some() && !attempt.anonymous,
            anonymous: attempt.anonymous,
            default,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// A SASL PLAIN login (RFC 4616, POP3 `AUTH`, IMAP `AUTHENTICATE`):
    /// its base64 message is the command's initial response, else the
    /// client's next line.
    pub fn push_plain<'l>(
        &mut self,
        initial: &'l [u8],
        next_line: impl FnOnce() -> Option<&'l [u8]>,
    ) {
        let message = if initial.is_empty() {
            next_line()
        } else {
            Some(initial)
        };
        if let Some(plain) = message.and_then(base64)
            && let Some((user, password)) = sasl_plain(&plain)
        {
            self.push(attempt("plain", user, password));
        }
    }

    /// The `login` finding of `protocol`: about both ends, since the account
    /// is the server's and the client is the one that sent it in clear. It
    /// describes the first attempt with a vendor default credential, else
    /// the last one.
    pub fn finding(&self, protocol: &'static str) -> Option<Finding> {
        let attempt = self
            .kept
            .iter()
            .find(|a| a.default.is_some())
            .or(self.kept.last())?;
        let mut f = Finding::new("login", About::Both);
        f.set("protocol", protocol);
        f.set("mechanism", attempt.mechanism);
        f.set("cleartext", attempt.cleartext);
        if attempt.anonymous {
            f.set("anonymous", true);
        }
        f.set("attempts", self.total);
        if attempt.password_is_username {
            f.set("password_is_username", true);
        }
        f.set("username", attempt.username.as_deref());
        if let Some(entry) = attempt.default {
            f.set("default_credential", true);
            f.set("default_credential_vendor", entry.vendor.as_str());
            f.set("default_credential_source", entry.source.as_str());
        }
        Some(f)
    }
}

/// One attempt as most protocols make it: a known user name and a password in clear.
pub fn attempt<'a>(mechanism: &'static str, user: &'a [u8], password: &'a [u8]) -> Attempt<'a> {
    Attempt {
        mechanism,
        user,
        user_known: true,
        password: Some(password),
        anonymous: false,
    }
}

/// How far into a mail protocol's stream (POP3, IMAP) its greeting and
/// login are looked for.
pub const MAX_SCAN: usize = 4096;

/// A greeting's first line; `None` while it may still come (more bytes
/// can arrive and the scan limit is not reached).
pub fn greeting_line<'a>(
    bytes: &'a [u8],
    last: bool,
    what: &'static str,
) -> Result<Option<&'a [u8]>, ParseError> {
    let (mut lines, _) = lines(bytes.get(..MAX_SCAN).unwrap_or(bytes));
    match lines.next() {
        Some(line) => Ok(Some(line)),
        None if last || bytes.len() >= MAX_SCAN => Err(ParseError::Truncated(what)),
        None => Ok(None),
    }
}

/// The complete lines of a command stream (ended by LF, an optional CR
/// before it dropped), and whether bytes follow the last one.
pub fn lines(bytes: &[u8]) -> (impl Iterator<Item = &[u8]>, bool) {
    let complete = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let head = bytes.get(..complete).unwrap_or_default();
    let lines = head
        .split(|&b| b == b'\n')
        .take(head.iter().filter(|&&b| b == b'\n').count())
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    (lines, complete < bytes.len())
}

/// A command line's verb (upper-cased by the caller's comparison) and the
/// rest after one space.
pub fn command(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(at) => (
            line.get(..at).unwrap_or_default(),
            line.get(at + 1..).unwrap_or_default(),
        ),
        None => (line, &[]),
    }
}

/// Standard base64 (RFC 4648), padding optional; `None` on any other byte.
pub fn base64(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    let text = text
        .strip_suffix(b"==")
        .or(text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, as (authcid, passwd).
pub fn sasl_plain(message: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = message.splitn(3, |&b| b == 0);
    let _authzid = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn one(a: Attempt<'_>) -> Finding {
        let k = crate::testing::knowledge_with_default_credentials();
        let mut attempts = Attempts::new(&k);
        attempts.push(a);
        attempts.finding("ftp").unwrap()
    }

    #[test]
    fn a_default_credential_is_named_without_its_password() {
        let f = one(attempt("user_pass", b"root", b"xc3511"));
        assert_eq!(f.about, About::Both);
        assert_eq!(f.get("login.default_credential"), Some(&true.into()));
        assert_eq!(
            f.get("login.default_credential_vendor"),
            Some(&"XiongMai".into())
        );
        assert_eq!(f.get("login.username"), Some(&"root".into()));
        assert_eq!(f.get("login.cleartext"), Some(&true.into()));
        assert!(!serde_json::to_string(&f.fields).unwrap().contains("xc3511"));
    }

    #[test]
    fn a_user_name_that_is_the_password_is_left_out() {
        let f = one(attempt("user_pass", b"ubnt", b"ubnt"));
        assert_eq!(f.get("login.password_is_username"), Some(&true.into()));
        assert_eq!(f.get("login.username"), None);
        assert_eq!(
            f.get("login.default_credential_vendor"),
            Some(&"Ubiquiti".into())
        );
        assert!(!serde_json::to_string(&f.fields).unwrap().contains("ubnt"));
    }

    #[test]
    fn a_digest_login_is_not_cleartext_and_not_looked_up() {
        let f = one(Attempt {
            password: None,
            ..attempt("apop", b"admin", b"")
        });
        assert_eq!(f.get("login.cleartext"), Some(&false.into()));
        assert_eq!(f.get("login.default_credential"), None);
    }

    #[test]
    fn the_default_attempt_of_a_brute_force_is_reported_and_all_are_counted() {
        let k = crate::testing::knowledge_with_default_credentials();
        let mut attempts = Attempts::new(&k);
        for p in [&b"1"[..], b"2", b"7ujMko0admin", b"4"] {
            attempts.push(attempt("user_pass", b"admin", p));
        }
        let f = attempts.finding("telnet").unwrap();
        assert_eq!(f.get("login.attempts"), Some(&4.into()));
        assert_eq!(
            f.get("login.default_credential_vendor"),
            Some(&"Dahua".into())
        );
        assert!(Attempts::new(&k).finding("ftp").is_none());
    }

    #[test]
    fn a_user_name_not_known_to_be_one_is_not_shown() {
        let f = one(Attempt {
            user_known: false,
            ..attempt("prompt", b"maybe-a-password", b"x")
        });
        assert_eq!(f.get("login.username"), None);
    }

    #[test]
    fn base64_and_sasl_plain_decode() {
        assert_eq!(base64(b"dGVzdDpmYWlsMg==").unwrap(), b"test:fail2");
        assert_eq!(base64(b"YQ").unwrap(), b"a");
        assert_eq!(base64(b"not base64!"), None);
        let plain = base64(b"AHVzZXIAcGFzcw==").unwrap();
        assert_eq!(sasl_plain(&plain), Some((&b"user"[..], &b"pass"[..])));
        assert_eq!(sasl_plain(b"no nul"), None);
    }

    #[test]
    fn lines_are_complete_ones_only() {
        let (lines, partial) = lines(b"USER a\r\nPASS b\r\nLI");
        assert_eq!(lines.collect::<Vec<_>>(), [&b"USER a"[..], b"PASS b"]);
        assert!(partial);
        let (lines, partial) = super::lines(b"");
        assert_eq!(lines.count(), 0);
        assert!(!partial);
    }
}
