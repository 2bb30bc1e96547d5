//! IMAP (RFC 9051): the server's greeting names its software, and the
//! client's login crosses in clear unless STARTTLS came first: `LOGIN user
//! password`, `AUTHENTICATE PLAIN` (base64). Logins are `login` findings
//! that never hold the password.

use super::login::{self, Attempts};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "imap",
    probe,
    parse: Parse::Stream(parse),
}];

/// Longest greeting kept.
const MAX_BANNER: usize = 256;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp
        && context.server_port() == 143
        && (bytes.starts_with(b"* OK") || bytes.starts_with(b"* PREAUTH"))
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

/// The greeting's text after its response code (`[CAPABILITY ...]`).
fn greeting(bytes: &[u8], last: bool, out: &mut Vec<Finding>) -> Result<Progress, ParseError> {
    let Some(line) = login::greeting_line(bytes, last, "imap greeting")? else {
        return Ok(Progress::NeedMore);
    };
    let text = line
        .strip_prefix(b"* OK")
        .or_else(|| line.strip_prefix(b"* PREAUTH"))
        .ok_or(ParseError::Malformed("imap greeting"))?;
    let text = String::from_utf8_lossy(text);
    let text = text.trim();
    let text = match text.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((_code, rest)) => rest.trim(),
        None => text,
    };
    let mut f = Finding::new("imap", About::Sender);
    f.set("banner", text.chars().take(MAX_BANNER).collect::<String>());
    out.push(f);
    Ok(Progress::Done)
}

/// An astring (RFC 9051 9): an atom, a quoted string (backslash escapes),
/// or a literal `{n}` whose bytes start on the next line, taken from
/// `next`. Returns it and the rest of the line.
fn astring<'a>(
    input: &'a [u8],
    next: &mut dyn FnMut() -> Option<&'a [u8]>,
) -> Option<(Vec<u8>, &'a [u8])> {
    let input = input.trim_ascii_start();
    if let Some(quoted) = input.strip_prefix(b"\"") {
        let mut value = Vec::new();
        let mut bytes = quoted.iter().enumerate();
        while let Some((at, &b)) = bytes.next() {
            match b {
                b'"' => return Some((value, quoted.get(at + 1..).unwrap_or_default())),
                b'\\' => value.push(*bytes.next()?.1),
                _ => value.push(b),
            }
        }
        return None;
    }
    if let Some(literal) = input.strip_prefix(b"{") {
        let close = literal.iter().position(|&b| b == b'}')?;
        let digits = literal.get(..close)?;
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let line = next()?;
        let value = line.get(..size)?.to_vec();
        return Some((value, line.get(size..).unwrap_or_default()));
    }
    let end = input.iter().position(|&b| b == b' ').unwrap_or(input.len());
    Some((
        input.get(..end)?.to_vec(),
        input.get(end..).unwrap_or_default(),
    ))
}

/// The client's commands up to the first one after a login, or STARTTLS.
fn client(
    knowledge: &Knowledge,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let (lines, _) = login::lines(bytes.get(..login::MAX_SCAN).unwrap_or(bytes));
    let mut lines = lines.peekable();
    let mut attempts = Attempts::new(knowledge);
    let mut done = false;
    while let Some(line) = lines.next() {
        let (_tag, command) = login::command(line);
        let (verb, arguments) = login::command(command);
        let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
        if is(b"LOGIN") {
            let mut next = || lines.next();
            if let Some((user, rest)) = astring(arguments, &mut next)
                && let Some((password, _)) = astring(rest, &mut next)
            {
                attempts.push(login::attempt("login", &user, &password));
            }
        } else if is(b"AUTHENTICATE") {
            let (mechanism, initial) = login::command(arguments);
            if mechanism.eq_ignore_ascii_case(b"PLAIN") {
                attempts.push_plain(initial, || lines.next());
            }
        } else if is(b"STARTTLS") || !attempts.is_empty() {
            // TLS from here on, or the session has begun.
            done = true;
            break;
        }
    }
    if !done && !last && bytes.len() < login::MAX_SCAN {
        return Ok(Progress::NeedMore);
    }
    out.extend(attempts.finding("imap"));
    Ok(Progress::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
