//! HTTP/1.x requests and responses: method, host, URI, User-Agent, Server, header order; UPnP description XML.
//!
//! The first request of a connection fingerprints the client's HTTP stack
//! (User-Agent, header order); the first response the server's (Server)
//! and, when it is a UPnP device description, names the device: friendly
//! name, manufacturer, model, serial number, UDN. A request's Basic
//! credentials and a login form's password field are `login` findings that
//! never hold the password.

mod upnp;

use super::login::{self, Attempts};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

/// Headers read from one message.
const MAX_HEADERS: usize = 64;
/// Header bytes waited for before giving up on a message.
const MAX_HEAD: usize = 16 * 1024;
/// Body bytes waited for when the body may be a UPnP description.
const MAX_BODY: usize = 48 * 1024;

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "http",
    probe,
    parse: Parse::Stream(parse),
}];

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"SUBSCRIBE ",
    b"UNSUBSCRIBE ",
    b"NOTIFY ",
    b"PROPFIND ",
];

fn probe(c: &Context, first: &[u8]) -> bool {
    c.carrier == Carrier::Tcp
        && (first.starts_with(b"HTTP/1.") || METHODS.iter().any(|m| first.starts_with(m)))
}

fn parse(
    knowledge: &Knowledge,
    _: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if bytes.starts_with(b"HTTP/") {
        response(bytes, last, out)
    } else {
        request(knowledge, bytes, last, out)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// What to do with a head httparse could not finish.
fn partial(bytes: &[u8], last: bool) -> Option<Result<Progress, ParseError>> {
    if last || bytes.len() >= MAX_HEAD {
        None
    } else {
        Some(Ok(Progress::NeedMore))
    }
}

fn request(
    knowledge: &Knowledge,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => Some(n),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::Limit("http headers")),
        Err(_) => return Err(ParseError::Malformed("http request")),
    };
    if head_len.is_none() {
        if let Some(wait) = partial(bytes, last) {
            return wait;
        }
    }
    let Some(method) = req.method else {
        return Err(ParseError::Truncated("http request line"));
    };
    let mut f = Finding::new("http", About::Sender);
    f.set("http_method", method);
    f.set("url", req.path);
    f.set("protocol", req.version.map(|v| format!("HTTP/1.{v}")));
    let mut attempts = Attempts::new(knowledge);
    let (mut form, mut content_length) = (false, None);
    let mut order = Vec::new();
    for h in req.headers.iter().filter(|h| !h.name.is_empty()) {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => {
                let host = text(h.value);
                let (name, port) = split_host(&host);
                f.set("hostname", name);
                f.set("http_port", port);
            }
            "user-agent" => {
                f.set("http_user_agent", text(h.value));
            }
            // Never the value: only that credentials were sent, and how.
            "authorization" | "proxy-authorization" => {
                let (scheme, value) = login::command(h.value.trim_ascii());
                let scheme = String::from_utf8_lossy(scheme).to_ascii_lowercase();
                if scheme == "basic"
                    && let Some(decoded) = login::base64(value)
                    && let Some(colon) = decoded.iter().position(|&b| b == b':')
                {
                    let (user, password) = decoded.split_at(colon);
                    let password = password.get(1..).unwrap_or_default();
                    attempts.push(login::attempt("basic", user, password));
                }
                if !scheme.is_empty() {
                    f.set("credentials", scheme);
                }
            }
            "referer" => {
                f.set("http_refer", text(h.value));
            }
            "content-type" => {
                form = text(h.value)
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded");
            }
            "content-length" => content_length = text(h.value).parse::<usize>().ok(),
            _ => {}
        }
        order.push(name);
    }
    f.set("header_order", order);
    // A login form's body: wait for it (bounded), then look for a password.
    if let (true, Some(head_len)) = (form, head_len) {
        let body = bytes.get(head_len..).unwrap_or_default();
        let wanted = content_length.unwrap_or(MAX_HEAD).min(MAX_HEAD);
        if !last && body.len() < wanted {
            return Ok(Progress::NeedMore);
        }
        form_login(body.get(..wanted).unwrap_or(body), &mut attempts);
    }
    out.push(f);
    out.extend(attempts.finding("http"));
    Ok(Progress::Done)
}

/// Form fields that hold a password, and those that hold the user name
/// (by the names login forms commonly use).
const PASSWORD_FIELDS: [&str; 5] = ["password", "passwd", "pass", "pwd", "pw"];
const USER_FIELDS: [&str; 8] = [
    "username", "user", "login", "log", "email", "usr", "userid", "uname",
];

/// An `application/x-www-form-urlencoded` body with a password field.
fn form_login(body: &[u8], attempts: &mut Attempts<'_>) {
    let mut user = Vec::new();
    let mut password = None;
    for pair in body.split(|&b| b == b'&') {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (
                pair.get(..at).unwrap_or_default(),
                pair.get(at + 1..).unwrap_or_default(),
            ),
            None => (pair, &[][..]),
        };
        let key = String::from_utf8_lossy(&percent_decode(key)).to_ascii_lowercase();
        if PASSWORD_FIELDS.contains(&key.as_str()) || key.contains("password") {
            password = Some(percent_decode(value));
        } else if USER_FIELDS.contains(&key.as_str()) {
            user = percent_decode(value);
        }
    }
    if let Some(password) = password {
        attempts.push(login::attempt("form", &user, &password));
    }
}

/// A form value: `+` is a space, `%XX` a byte.
fn percent_decode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let digits = [bytes.next(), bytes.next()];
                let hex = |d: Option<u8>| d.and_then(|d| (d as char).to_digit(16));
                match (hex(digits[0]), hex(digits[1])) {
                    (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
                    _ => {
                        out.push(b'%');
                        out.extend(digits.into_iter().flatten());
                    }
                }
            }
            _ => out.push(b),
        }
    }
    out
}

/// `host[:port]`, IPv6 literals in brackets.
fn split_host(host: &str) -> (String, Option<u16>) {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) => (addr, tail.strip_prefix(':')),
            None => (host, None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => (name, Some(port)),
            _ => (host, None),
        }
    };
    (name.to_string(), port.and_then(|p| p.parse().ok()))
}

fn response(bytes: &[u8], last: bool, out: &mut Vec<Finding>) -> Result<Progress, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => Some(n),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::Limit("http headers")),
        Err(_) => return Err(ParseError::Malformed("http response")),
    };
    if head_len.is_none() {
        if let Some(wait) = partial(bytes, last) {
            return wait;
        }
    }
    let Some(code) = resp.code else {
        return Err(ParseError::Truncated("http status line"));
    };
    let mut f = Finding::new("http", About::Sender);
    f.set("status", code);
    f.set("protocol", resp.version.map(|v| format!("HTTP/1.{v}")));
    let mut order = Vec::new();
    let mut content_length = None;
    let mut chunked = false;
    let mut xml = false;
    for h in resp.headers.iter().filter(|h| !h.name.is_empty()) {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "server" => {
                f.set("server", text(h.value));
            }
            "content-type" => {
                let value = text(h.value);
                xml = value.to_ascii_lowercase().contains("xml");
                f.set("http_content_type", value);
            }
            "content-length" => content_length = text(h.value).parse::<usize>().ok(),
            "transfer-encoding" => chunked = text(h.value).eq_ignore_ascii_case("chunked"),
            _ => {}
        }
        order.push(name);
    }
    f.set("header_order", order);
    // A UPnP device description: wait for the body (bounded), then read it.
    if let Some(head_len) = head_len {
        if xml && code == 200 {
            let body = bytes.get(head_len..).unwrap_or_default();
            let wanted = content_length.unwrap_or(MAX_BODY).min(MAX_BODY);
            let done = last || body.len() >= wanted || (chunked && body.ends_with(b"0\r\n\r\n"));
            if !done {
                return Ok(Progress::NeedMore);
            }
            let body = body.get(..wanted).unwrap_or(body);
            let body = if chunked {
                dechunk(body)
            } else {
                body.to_vec()
            };
            if let Some(device) = upnp::parse(&body) {
                device.set_into(&mut f);
            }
        }
    }
    out.push(f);
    Ok(Progress::Done)
}

/// The data of a chunked body, as far as it goes.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(body.get(..eol).unwrap_or_default()).into_owned();
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = start.saturating_add(size).min(body.len());
        out.extend_from_slice(body.get(start..end).unwrap_or_default());
        body = body.get(end.saturating_add(2)..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{capture, messages};

    fn run(path: &str) -> Vec<(usize, Finding)> {
        let knowledge = Knowledge::default();
        let mut all = Vec::new();
        for m in messages(path) {
            if !probe(&m.context, &m.bytes) {
                continue;
            }
            let mut out = Vec::new();
            // As the sensor feeds it: growing prefixes, then the end.
            let mut done = false;
            for end in (1..=m.bytes.len()).step_by(200).chain([m.bytes.len()]) {
                if parse(&knowledge, &m.context, &m.bytes[..end], false, &mut out)
                    == Ok(Progress::Done)
                {
                    done = true;
                    break;
                }
            }
            if !done {
                out.clear();
                let _ = parse(&knowledge, &m.context, &m.bytes, true, &mut out);
            }
            all.extend(out.into_iter().map(|f| (m.frame, f)));
        }
        all
    }

    fn get<'a>(f: &'a Finding, key: &str) -> &'a str {
        f.fields.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }

    /// The first request and response of every HTTP connection equal
    /// tshark's method, Host, URI, User-Agent, status, Server and
    /// Content-Type.
    #[test]
    fn requests_and_responses_equal_tshark() {
        let mut compared = 0;
        for path in [
            "ndpi/anyconnect-vpn.pcap",
            "iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap",
            "iot-sentinel/Withings/Setup-C-16-STA.pcap",
        ] {
            let name = path.replace('/', "_");
            let read = |kind: &str| {
                std::fs::read_to_string(capture(&format!("tshark/http_{kind}_{name}.tsv"))).unwrap()
            };
            let (requests, responses) = (read("requests"), read("responses"));
            for (_, f) in run(path) {
                let line = if f.fields.contains_key("http_method") {
                    let host = match f.fields.get("http_port") {
                        Some(port) => format!("{}:{port}", get(&f, "hostname")),
                        None => get(&f, "hostname").to_string(),
                    };
                    let line = [
                        get(&f, "http_method"),
                        &host,
                        get(&f, "url"),
                        get(&f, "http_user_agent"),
                    ]
                    .join("\t");
                    assert!(requests.lines().any(|l| l == line), "{path}: {line}");
                    line
                } else {
                    let line = [
                        &f.fields["status"].to_string(),
                        get(&f, "server"),
                        get(&f, "http_content_type"),
                    ]
                    .join("\t");
                    assert!(responses.lines().any(|l| l == line), "{path}: {line}");
                    line
                };
                assert!(!line.is_empty());
                compared += 1;
            }
        }
        // 6 requests and 6 responses, all equal.
        assert_eq!(compared, 12);
    }

    /// The Chromecast's and the Roku's device descriptions (frames 513 and
    /// 518), values as tshark's XML dissector reads them.
    #[test]
    fn upnp_description_names_the_device() {
        let all = run("ndpi/anyconnect-vpn.pcap");
        let upnp: Vec<&Finding> = all
            .iter()
            .map(|(_, f)| f)
            .filter(|f| f.fields.contains_key("upnp"))
            .collect();
        assert_eq!(upnp.len(), 2);
        let xml =
            std::fs::read_to_string(capture("tshark/upnp_ndpi_anyconnect-vpn.pcap.tsv")).unwrap();
        for f in &upnp {
            assert_eq!(f.about, About::Sender);
            for (_, v) in f.leaves().iter().filter(|(k, _)| k.starts_with("upnp.")) {
                let v = v.as_str().unwrap();
                assert!(xml.contains(v), "{v}");
            }
        }
        let roku = upnp
            .iter()
            .find(|f| f.fields["upnp"]["manufacturer"] == "Roku")
            .unwrap();
        assert_eq!(roku.fields["upnp"]["friendly_name"], "Express");
        assert_eq!(roku.fields["upnp"]["model_name"], "Roku Express");
        assert_eq!(roku.fields["upnp"]["model_number"], "3900X");
        assert_eq!(roku.fields["upnp"]["serial_number"], "YG004J486863");
        assert_eq!(
            roku.fields["upnp"]["udn"],
            "uuid:295c0004-6807-106d-80cf-d831342077fb"
        );
        let cast = upnp
            .iter()
            .find(|f| f.fields["upnp"]["manufacturer"] == "Google Inc.")
            .unwrap();
        assert_eq!(cast.fields["upnp"]["friendly_name"], "Chromecast1699");
        assert_eq!(cast.fields["upnp"]["model_name"], "Eureka Dongle");
    }

    /// `ndpi/http_auth.pcap`: tshark's `http.authbasic` is `test:fail2`.
    #[test]
    fn basic_login_from_the_capture() {
        let logins: Vec<Finding> = run("ndpi/http_auth.pcap")
            .into_iter()
            .map(|(_, f)| f)
            .filter(|f| f.event_type == "login")
            .collect();
        let [login] = logins.as_slice() else {
            panic!("{logins:?}")
        };
        assert_eq!(login.get("login.protocol"), Some(&"http".into()));
        assert_eq!(login.get("login.username"), Some(&"test".into()));
        assert_eq!(login.get("login.cleartext"), Some(&true.into()));
        assert!(
            !serde_json::to_string(&login.fields)
                .unwrap()
                .contains("fail2")
        );
    }

    #[test]
    fn form_logins_wait_for_the_body_and_keep_no_password() {
        let ctx = Context {
            carrier: Carrier::Tcp,
            src_port: 50000,
            dst_port: 80,
            to_server: true,
            src_mac: None,
            dst_mac: None,
        };
        let k = crate::testing::knowledge_with_default_credentials();
        let head = b"POST /login HTTP/1.1\r\nHost: cam\r\nContent-Type: application/x-WWW-form-urlencoded\r\nContent-Length: 31\r\n\r\n";
        let mut out = Vec::new();
        assert_eq!(
            parse(&k, &ctx, head, false, &mut out),
            Ok(Progress::NeedMore)
        );
        let whole = [&head[..], b"LOG=root&pass=xm%68dipc&go=Sign"].concat();
        assert_eq!(parse(&k, &ctx, &whole, false, &mut out), Ok(Progress::Done));
        let login = &out[1];
        assert_eq!(login.get("login.mechanism"), Some(&"form".into()));
        assert_eq!(login.get("login.username"), Some(&"root".into()));
        assert_eq!(login.get("login.default_credential"), Some(&true.into()));
        assert!(
            !serde_json::to_string(&login.fields)
                .unwrap()
                .contains("dipc")
        );
        // A form without a password field is no login.
        let mut out = Vec::new();
        let search = [&head[..], b"q=cats&page=2&sort=new&lang=en"].concat();
        parse(&k, &ctx, &search, true, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(percent_decode(b"a+b%2"), b"a b%2");
    }

    #[test]
    fn credentials_are_never_copied() {
        let req = b"GET /a HTTP/1.1\r\nHost: cam.local:8080\r\nAuthorization: Basic YWRtaW46c2VjcmV0\r\nUser-Agent: x\r\n\r\n";
        let ctx = Context {
            carrier: Carrier::Tcp,
            src_port: 50000,
            dst_port: 8080,
            to_server: true,
            src_mac: None,
            dst_mac: None,
        };
        let mut out = Vec::new();
        let r = parse(&Knowledge::default(), &ctx, req, false, &mut out);
        assert_eq!(r, Ok(Progress::Done));
        let f = &out[0];
        assert_eq!(f.fields["credentials"], "basic");
        assert_eq!(f.fields["hostname"], "cam.local");
        assert_eq!(f.fields["http_port"], 8080);
        assert_eq!(
            f.fields["header_order"],
            serde_json::json!(["host", "authorization", "user-agent"])
        );
        // admin:secret: the login is told, the password is not.
        let login = &out[1];
        assert_eq!(login.event_type, "login");
        assert_eq!(login.about, About::Both);
        assert_eq!(login.get("login.mechanism"), Some(&"basic".into()));
        assert_eq!(login.get("login.username"), Some(&"admin".into()));
        let json: String = out
            .iter()
            .map(|f| serde_json::to_string(&f.fields).unwrap())
            .collect();
        assert!(!json.contains("YWRtaW46c2VjcmV0") && !json.contains("secret"));
        // Truncations and garbage: errors or waiting, never a panic.
        for len in 0..req.len() {
            out.clear();
            let _ = parse(&Knowledge::default(), &ctx, &req[..len], true, &mut out);
        }
        assert!(
            parse(
                &Knowledge::default(),
                &ctx,
                b"GET \x00\x01\x02",
                true,
                &mut out
            )
            .is_err()
        );
        // A description cut mid-value yields nothing, not a panic.
        assert!(
            upnp::parse(
                b"<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><device><friendlyName>a&bogus;<"
            )
            .is_none()
        );
    }
}
