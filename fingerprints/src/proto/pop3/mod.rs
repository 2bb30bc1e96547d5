//! POP3 (RFC 1939, RFC 5034): the server's greeting names its software, and
//! the client's login crosses in clear unless STLS came first: `USER` and
//! `PASS`, `APOP` (a name and an MD5 digest), `AUTH PLAIN` and `AUTH LOGIN`
//! (base64). Logins are `login` findings that never hold the password.

use super::login::{self, Attempt, Attempts};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "pop3",
    probe,
    parse: Parse::Stream(parse),
}];

/// Longest greeting kept.
const MAX_BANNER: usize = 256;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp && context.server_port() == 110 && bytes.starts_with(b"+OK")
}

fn parse(
    knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if context.to_server {
        client(knowledge, bytes, last, out)
    } else {
        greeting(bytes, last, out)
    }
}

/// The `+OK` greeting's text (without an APOP timestamp's angle brackets'
/// contents, which change with every connection).
fn greeting(bytes: &[u8], last: bool, out: &mut Vec<Finding>) -> Result<Progress, ParseError> {
    let Some(line) = login::greeting_line(bytes, last, "pop3 greeting")? else {
        return Ok(Progress::NeedMore);
    };
    let text = line
        .strip_prefix(b"+OK")
        .ok_or(ParseError::Malformed("pop3 greeting"))?;
    let text = String::from_utf8_lossy(text);
    let text = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            format!(
                "{}{}",
                text.get(..open).unwrap_or_default(),
                text.get(close + 1..).unwrap_or_default()
            )
        }
        _ => text.into_owned(),
    };
    let mut f = Finding::new("pop3", About::Sender);
    f.set(
        "banner",
        text.trim().chars().take(MAX_BANNER).collect::<String>(),
    );
    out.push(f);
    Ok(Progress::Done)
}

/// The client's commands up to the first one after a login, or STLS.
fn client(
    knowledge: &Knowledge,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let (lines, _) = login::lines(bytes.get(..login::MAX_SCAN).unwrap_or(bytes));
    let mut lines = lines.peekable();
    let mut attempts = Attempts::new(knowledge);
    let mut user: &[u8] = &[];
    let mut done = false;
    while let Some(line) = lines.next() {
        let (verb, argument) = login::command(line);
        let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
        if is(b"USER") {
            user = argument;
        } else if is(b"PASS") {
            attempts.push(login::attempt("user_pass", user, argument));
        } else if is(b"APOP") {
            let (name, _digest) = login::command(argument);
            attempts.push(Attempt {
                password: None,
                ..login::attempt("apop", name, b"")
            });
        } else if is(b"AUTH") {
            let (mechanism, initial) = login::command(argument);
            if mechanism.eq_ignore_ascii_case(b"PLAIN") {
                attempts.push_plain(initial, || lines.next());
            } else if mechanism.eq_ignore_ascii_case(b"LOGIN") {
                let name = lines.next().and_then(login::base64);
                let password = lines.next().and_then(login::base64);
                if let (Some(name), Some(password)) = (name, password) {
                    attempts.push(login::attempt("sasl_login", &name, &password));
                }
            }
        } else if is(b"STLS") || !attempts.is_empty() {
            // TLS from here on, or the session has begun.
            done = true;
            break;
        }
    }
    if !done && !last && bytes.len() < login::MAX_SCAN {
        return Ok(Progress::NeedMore);
    }
    out.extend(attempts.finding("pop3"));
    Ok(Progress::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
