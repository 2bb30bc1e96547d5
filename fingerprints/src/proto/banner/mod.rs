//! Telnet and FTP: server banners, where embedded devices greet with their
//! model and firmware (`220 Printer FTP 4.8.7 ready`, `BusyBox v1.19 ...
//! login:`), and logins in clear (FTP `USER`/`PASS`; what a Telnet client
//! types after `login:` and `Password:` prompts), reported as `login`
//! findings that never hold the password.

use super::login::{self, Attempt, Attempts};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "ftp",
        probe: probe_ftp,
        parse: Parse::Stream(parse_ftp),
    },
    Dissector {
        name: "telnet",
        probe: probe_telnet,
        parse: Parse::Conversation(parse_telnet),
    },
];

/// Bytes read while looking for a banner.
const MAX_SCAN: usize = 4096;
/// Longest banner kept.
const MAX_BANNER: usize = 256;
const TELNET_PORTS: [u16; 2] = [23, 2323];

/// The server's greeting, or a client that speaks first (its greeting
/// delayed or missed).
fn probe_ftp(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp
        && context.server_port() == 21
        && (bytes.starts_with(b"220")
            || (context.to_server && (bytes.starts_with(b"USER ") || bytes.starts_with(b"AUTH "))))
}

fn probe_telnet(context: &Context, _bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp && TELNET_PORTS.contains(&context.server_port())
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_BANNER) {
        Some((at, _)) => s.get(..at).unwrap_or(s).to_string(),
        None => s.to_string(),
    }
}

/// The server's greeting, or the client's login.
fn parse_ftp(
    knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if context.to_server {
        ftp_login(knowledge, bytes, last, out)
    } else {
        ftp_greeting(bytes, last, out)
    }
}

/// The client's `USER` and `PASS` commands (RFC 959 4.1.1), until another
/// command follows a password or `AUTH` turns to TLS.
fn ftp_login(
    knowledge: &Knowledge,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let scan = bytes.get(..MAX_SCAN).unwrap_or(bytes);
    let (lines, _) = login::lines(scan);
    let mut attempts = Attempts::new(knowledge);
    let mut user: &[u8] = &[];
    let mut done = false;
    for line in lines {
        let (verb, argument) = login::command(line);
        if verb.eq_ignore_ascii_case(b"USER") {
            user = argument;
        } else if verb.eq_ignore_ascii_case(b"PASS") {
            let anonymous =
                user.eq_ignore_ascii_case(b"anonymous") || user.eq_ignore_ascii_case(b"ftp");
            attempts.push(Attempt {
                anonymous,
                ..login::attempt("user_pass", user, argument)
            });
        } else if verb.eq_ignore_ascii_case(b"AUTH") || !attempts.is_empty() {
            // TLS from here on, or the session has begun.
            done = true;
            break;
        }
    }
    if !done && !last && bytes.len() < MAX_SCAN {
        return Ok(Progress::NeedMore);
    }
    out.extend(attempts.finding("ftp"));
    Ok(Progress::Done)
}

/// The server's "220" greeting (RFC 959 4.2): its first line's text; a
/// multi-line reply ("220-") is taken whole, lines joined by a newline.
fn ftp_greeting(bytes: &[u8], last: bool, out: &mut Vec<Finding>) -> Result<Progress, ParseError> {
    if !bytes.starts_with(b"220") {
        return Err(ParseError::Malformed("ftp greeting"));
    }
    let scan = bytes.get(..MAX_SCAN).unwrap_or(bytes);
    let text = String::from_utf8_lossy(scan);
    let mut lines = Vec::new();
    let mut complete = false;
    // Bounded by MAX_SCAN bytes.
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if lines.is_empty() {
            let rest = line.get(3..).unwrap_or_default();
            lines.push(rest.get(1..).unwrap_or_default().to_string());
            if !rest.starts_with('-') {
                complete = true;
                break;
            }
        } else if let Some(rest) = line.strip_prefix("220 ") {
            lines.push(rest.to_string());
            complete = true;
            break;
        } else {
            lines.push(line.strip_prefix("220-").unwrap_or(line).to_string());
        }
    }
    if !complete {
        if !last && bytes.len() < MAX_SCAN {
            return Ok(Progress::NeedMore);
        }
        if lines.is_empty() {
            return Err(ParseError::Truncated("ftp greeting"));
        }
    }
    let banner: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let mut f = Finding::new("ftp", About::Sender);
    f.set("banner", clip(&banner.join("\n")));
    out.push(f);
    Ok(Progress::Done)
}

/// The server's banner, or the client's login.
fn parse_telnet(
    knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    peer: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if context.to_server {
        telnet_login(knowledge, bytes, peer, last, out)
    } else {
        telnet_banner(bytes, last, out)
    }
}

/// The bytes of a Telnet direction without its commands (IAC WILL/WONT/
/// DO/DONT and their option, subnegotiations up to IAC SE, other two-byte
/// commands; RFC 854/855).
fn telnet_data(bytes: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(bytes.len());
    let mut at = 0usize;
    while let Some(&b) = bytes.get(at) {
        if b != 0xff {
            data.push(b);
            at += 1;
            continue;
        }
        match bytes.get(at + 1) {
            Some(251..=254) => at += 3,
            Some(250) => {
                let end = bytes
                    .get(at + 2..)
                    .and_then(|r| r.windows(2).position(|w| w == [0xff, 240]));
                match end {
                    Some(e) => at += 2 + e + 2,
                    None => break,
                }
            }
            Some(_) => at += 2,
            None => break,
        }
    }
    data
}

/// The server's first printable line. It goes on reading (up to
/// `MAX_SCAN`) so that the client's side can still see the login prompts.
fn telnet_banner(bytes: &[u8], last: bool, out: &mut Vec<Finding>) -> Result<Progress, ParseError> {
    if !last && bytes.len() < MAX_SCAN {
        return Ok(Progress::NeedMore);
    }
    let data = telnet_data(bytes.get(..MAX_SCAN).unwrap_or(bytes));
    let printable = |b: &u8| *b == b'\t' || (0x20..0x7f).contains(b) || *b >= 0x80;
    let line = data
        .split(|b| *b == b'\n' || *b == b'\r')
        .map(|l| {
            let kept: Vec<u8> = l.iter().copied().filter(printable).collect();
            String::from_utf8_lossy(&kept).trim().to_string()
        })
        .find(|l| !l.is_empty())
        .ok_or(ParseError::Truncated("telnet banner"))?;
    let mut f = Finding::new("telnet", About::Sender);
    f.set("banner", clip(&line));
    out.push(f);
    Ok(Progress::Done)
}

/// A prompt in the server's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    User,
    Password,
}

const USER_PROMPTS: [&[u8]; 4] = [b"login:", b"username:", b"user name:", b"user:"];
const PASSWORD_PROMPTS: [&[u8]; 2] = [b"password:", b"passwd:"];

/// The login and password prompts of the server's text, in order, each
/// with the rest of its line (where a Telnet server echoes what is typed
/// at a login prompt, never at a password prompt).
fn prompts(server: &[u8]) -> Vec<(Prompt, &[u8])> {
    let mut found = Vec::new();
    let lower = server.to_ascii_lowercase();
    for (kind, patterns) in [
        (Prompt::User, &USER_PROMPTS[..]),
        (Prompt::Password, &PASSWORD_PROMPTS[..]),
    ] {
        for pattern in patterns {
            let mut from = 0;
            while let Some(at) = lower
                .get(from..)
                .and_then(|rest| rest.windows(pattern.len()).position(|w| w == *pattern))
            {
                let end = from + at + pattern.len();
                let rest = server.get(end..).unwrap_or_default();
                let echo = rest
                    .split(|&b| b == b'\r' || b == b'\n')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                found.push((from + at, kind, echo));
                from = end;
            }
        }
    }
    found.sort_by_key(|(at, ..)| *at);
    found
        .into_iter()
        .map(|(_, kind, echo)| (kind, echo))
        .collect()
}

/// The lines a Telnet client typed, line editing (backspace, delete)
/// applied; a line ends at CR (with the LF or NUL after it) or LF.
fn typed_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut bytes = data.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' | b'\n' => {
                if b == b'\r' && matches!(bytes.peek(), Some(b'\n' | 0)) {
                    bytes.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            0x08 | 0x7f => {
                line.pop();
            }
            0 => {}
            _ => line.push(b),
        }
    }
    lines
}

/// What the client typed at the server's prompts: its n-th line answers
/// the n-th prompt. A user name is shown only when the server echoed it
/// at its prompt, so that a password typed ahead is never taken for one.
fn telnet_login(
    knowledge: &Knowledge,
    client: &[u8],
    server: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if !last && client.len() < MAX_SCAN {
        return Ok(Progress::NeedMore);
    }
    let server = telnet_data(server.get(..MAX_SCAN).unwrap_or(server));
    let typed = typed_lines(&telnet_data(client.get(..MAX_SCAN).unwrap_or(client)));
    let mut attempts = Attempts::new(knowledge);
    let mut user: Option<(&[u8], bool)> = None;
    for ((prompt, echo), line) in prompts(&server).into_iter().zip(&typed) {
        let line = line.trim_ascii();
        match prompt {
            Prompt::User => user = Some((line, echo == line)),
            Prompt::Password => {
                let (name, known) = user.take().unwrap_or((&[], false));
                attempts.push(Attempt {
                    user_known: known,
                    ..login::attempt("prompt", name, line)
                });
            }
        }
    }
    out.extend(attempts.finding("telnet"));
    Ok(Progress::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
