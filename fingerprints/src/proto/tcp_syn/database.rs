//! p0f v3's `p0f.fp` (its `[tcp:request]` and `[tcp:response]` sections)
//! and p0f's way of picking the signature a packet matches: the first exact
//! non-generic one in file order, else the first exact generic one, else
//! the first fuzzy one.

use crate::DataError;

use super::packet::{
    Direction, MAX_DISTANCE, MAX_OPTIONS, OPT_EOL, OPT_MSS, OPT_NOP, OPT_SACK, OPT_SOK, OPT_TS,
    OPT_WS, QUIRK_NAMES, TcpSignature, guess_distance, quirk,
};

/// A `label = ` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P0fLabel {
    /// The label as written (`s:unix:Linux:3.11 and newer`).
    pub text: String,
    /// `g:` labels are generic: a specific one wins over them.
    pub generic: bool,
    /// The OS class (`unix`, `win`, ...); `None` for userland tools (`!`).
    pub class: Option<String>,
    /// The OS or tool name, spelt as where p0f.fp first names it.
    pub name: String,
    /// Version or variant (`3.11 and newer`).
    pub flavor: Option<String>,
    /// For userland tools, the `sys = ` systems they run on.
    pub sys: Vec<String>,
}

impl P0fLabel {
    /// Name and flavor, as p0f prints `os=` (`Linux 3.11 and newer`).
    pub fn os(&self) -> String {
        match &self.flavor {
            Some(f) => format!("{} {f}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether the label names a userland tool (Nmap...) rather than an OS.
    pub fn is_tool(&self) -> bool {
        self.class.is_none()
    }
}

/// How a `sig` line constrains the window size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Exact(u16),
    Any,
    /// A multiple of N.
    Mod(u16),
    /// N times the MSS.
    Mss(i16),
    /// N times the MTU.
    Mtu(i16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    /// 4, 6 or `None` for `*`.
    ip_version: Option<u8>,
    ttl: u8,
    /// `ittl-`: the tool randomises the TTL.
    bad_ttl: bool,
    ip_options_len: u8,
    mss: Option<u16>,
    window: Window,
    window_scale: Option<u8>,
    options: Vec<u8>,
    eol_padding: u8,
    quirks: u32,
    payload: Option<bool>,
}

#[derive(Debug, Clone)]
struct Record {
    label: usize,
    line: usize,
    sig: Signature,
}

/// The signatures of a p0f.fp file.
#[derive(Debug, Clone, Default)]
pub struct P0fDatabase {
    labels: Vec<P0fLabel>,
    /// `[tcp:request]`, in file order.
    syn: Vec<Record>,
    /// `[tcp:response]`, in file order.
    syn_ack: Vec<Record>,
}

/// How a packet matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P0fMatch<'db> {
    pub label: &'db P0fLabel,
    /// Matched only with p0f's tolerance (quirks `df`/`id+` gone,
    /// `id-`/`ecn` new, or the TTL out of range).
    pub fuzzy: bool,
    /// Hops from the signature's initial TTL (p0f's guess when fuzzy and the
    /// TTL does not fit).
    pub distance: u8,
    /// The signature says the TTL is random: `distance` is an upper bound.
    pub bad_ttl: bool,
    /// Line of the `sig` in the database.
    pub line: usize,
}

impl P0fMatch<'_> {
    /// `exact`, `generic` or `fuzzy`.
    pub fn kind(&self) -> &'static str {
        if self.fuzzy {
            "fuzzy"
        } else if self.label.generic {
            "generic"
        } else {
            "exact"
        }
    }
}

enum Section {
    None,
    Tcp(Direction),
    Ignored,
}

/// Characters p0f allows in names besides letters and digits.
const NAME_CHARS: &str = " ./-_!?()";

impl P0fDatabase {
    /// Parses a p0f.fp file; `source` names it in errors.
    pub fn load(source: &str, text: &str) -> Result<P0fDatabase, DataError> {
        let mut db = P0fDatabase::default();
        let mut classes: Vec<String> = Vec::new();
        let mut section = Section::None;
        let mut label: Option<usize> = None;
        let mut need_sys = false;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |m: String| DataError::new(source, line_no, m);
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| err(format!("malformed section {line:?}")))?;
                label = None;
                need_sys = false;
                section = match name.split_once(':') {
                    _ if name == "mtu" => Section::Ignored,
                    Some(("tcp", "request")) => Section::Tcp(Direction::Syn),
                    Some(("tcp", "response")) => Section::Tcp(Direction::SynAck),
                    Some(("http", "request" | "response")) => Section::Ignored,
                    _ => return Err(err(format!("unknown section [{name}]"))),
                };
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("expected `name = value`, got {line:?}")))?;
            let (key, value) = (key.trim(), value.trim());
            match (&section, key) {
                (Section::None, "classes") => {
                    for class in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                        if !class.chars().all(|c| c.is_ascii_alphanumeric()) {
                            return Err(err(format!("bad class name {class:?}")));
                        }
                        classes.push(class.to_string());
                    }
                }
                (Section::None, _) => {
                    return Err(err(format!("`{key}` outside a section")));
                }
                (Section::Ignored, _) => {}
                (Section::Tcp(_), "label") => {
                    if need_sys {
                        return Err(err("label without the `sys` line its tool needs".into()));
                    }
                    let parsed = parse_label(value, &classes, &db.labels).map_err(err)?;
                    need_sys = parsed.class.is_none();
                    db.labels.push(parsed);
                    label = Some(db.labels.len() - 1);
                }
                (Section::Tcp(_), "sys") => {
                    let Some(current) = label.filter(|_| need_sys) else {
                        return Err(err("`sys` only follows a userland tool's label".into()));
                    };
                    let mut sys = Vec::new();
                    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                        let bare = entry.strip_prefix('@').unwrap_or(entry);
                        if bare.is_empty() || !bare.chars().all(name_char) {
                            return Err(err(format!("bad sys entry {entry:?}")));
                        }
                        if entry.starts_with('@') && !has_class(&classes, bare) {
                            return Err(err(format!("unknown class {bare:?}")));
                        }
                        sys.push(entry.to_string());
                    }
                    if let Some(l) = db.labels.get_mut(current) {
                        l.sys = sys;
                    }
                    need_sys = false;
                }
                (Section::Tcp(direction), "sig") => {
                    let Some(current) = label else {
                        return Err(err("`sig` before any `label`".into()));
                    };
                    if need_sys {
                        return Err(err("`sig` before the tool's `sys` line".into()));
                    }
                    let sig = parse_sig(value).map_err(err)?;
                    let record = Record {
                        label: current,
                        line: line_no,
                        sig,
                    };
                    match direction {
                        Direction::Syn => db.syn.push(record),
                        Direction::SynAck => db.syn_ack.push(record),
                    }
                }
                (Section::Tcp(_), other) => {
                    return Err(err(format!("unknown field `{other}`")));
                }
            }
        }
        Ok(db)
    }

    /// Number of SYN and SYN+ACK signatures.
    pub fn len(&self) -> usize {
        self.syn.len() + self.syn_ack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The signature `sig` matches, as p0f picks it.
    pub fn classify(&self, sig: &TcpSignature) -> Option<P0fMatch<'_>> {
        let records = match sig.direction {
            Direction::Syn => &self.syn,
            Direction::SynAck => &self.syn_ack,
        };
        let multiple = sig.window_multiple();
        let mut fuzzy_match: Option<&Record> = None;
        let mut generic_match: Option<&Record> = None;
        for record in records {
            let r = &record.sig;
            if r.options[..] != sig.options[..] {
                continue;
            }
            let mut fuzzy = false;
            // A signature for either IP version drops the other version's
            // quirks before comparing.
            let mut ref_quirks = r.quirks;
            if r.ip_version.is_none() {
                ref_quirks &= if sig.ip_version == 4 {
                    !quirk::FLOW
                } else {
                    !(quirk::DF | quirk::NZ_ID | quirk::ZERO_ID)
                };
            }
            if ref_quirks != sig.quirks {
                let deleted = ref_quirks & !sig.quirks;
                let added = sig.quirks & !ref_quirks;
                if fuzzy_match.is_some()
                    || deleted & !(quirk::DF | quirk::NZ_ID) != 0
                    || added & !(quirk::ZERO_ID | quirk::ECN) != 0
                {
                    continue;
                }
                fuzzy = true;
            }
            if r.eol_padding != sig.eol_padding || r.ip_options_len != sig.ip_options_len {
                continue;
            }
            if r.bad_ttl {
                if r.ttl < sig.ttl {
                    continue;
                }
            } else if r.ttl < sig.ttl || r.ttl - sig.ttl > MAX_DISTANCE {
                fuzzy = true;
            }
            if r.mss.is_some_and(|m| m != sig.mss)
                || r.window_scale.is_some_and(|w| w != sig.window_scale)
                || r.payload.is_some_and(|p| p != sig.payload)
            {
                continue;
            }
            let window_fits = match r.window {
                Window::Exact(w) => w == sig.window,
                Window::Any => true,
                Window::Mod(m) => m != 0 && sig.window % m == 0,
                Window::Mss(n) => multiple.is_some_and(|(m, mtu)| !mtu && m == n),
                Window::Mtu(n) => multiple.is_some_and(|(m, mtu)| mtu && m == n),
            };
            if !window_fits {
                continue;
            }
            let generic = self.labels.get(record.label).is_some_and(|l| l.generic);
            if !fuzzy {
                if !generic {
                    return self.found(record, sig, false);
                }
                generic_match.get_or_insert(record);
            } else {
                fuzzy_match.get_or_insert(record);
            }
        }
        if let Some(record) = generic_match {
            return self.found(record, sig, false);
        }
        let record = fuzzy_match?;
        // No fuzzy matches for userland tools.
        if self.labels.get(record.label).is_none_or(|l| l.is_tool()) {
            return None;
        }
        self.found(record, sig, true)
    }

    fn found<'db>(
        &'db self,
        record: &Record,
        sig: &TcpSignature,
        fuzzy: bool,
    ) -> Option<P0fMatch<'db>> {
        let r = &record.sig;
        let in_range = r.ttl >= sig.ttl && (r.bad_ttl || r.ttl - sig.ttl <= MAX_DISTANCE);
        let distance = if in_range {
            r.ttl - sig.ttl
        } else {
            guess_distance(sig.ttl)
        };
        Some(P0fMatch {
            label: self.labels.get(record.label)?,
            fuzzy,
            distance,
            bad_ttl: r.bad_ttl,
            line: record.line,
        })
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || NAME_CHARS.contains(c)
}

fn has_class(classes: &[String], name: &str) -> bool {
    classes.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// `s:unix:Linux:3.11 and newer`, `g:!:NMap:SYN scan`.
fn parse_label(value: &str, classes: &[String], known: &[P0fLabel]) -> Result<P0fLabel, String> {
    let bad = || format!("malformed label {value:?}");
    let mut parts = value.splitn(4, ':');
    let generic = match parts.next() {
        Some("g") => true,
        Some("s") => false,
        _ => return Err(bad()),
    };
    let class = parts.next().ok_or_else(bad)?;
    let name = parts.next().ok_or_else(bad)?;
    let flavor = parts.next().ok_or_else(bad)?;
    let class = if class == "!" {
        None
    } else if has_class(classes, class) {
        Some(class.to_string())
    } else {
        return Err(format!("unknown class {class:?} (not in `classes`)"));
    };
    if name.is_empty() || !name.chars().all(name_char) {
        return Err(format!("bad name {name:?}"));
    }
    // p0f identifies names case-insensitively and prints the first spelling.
    let name = known
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |l| l.name.clone());
    Ok(P0fLabel {
        text: value.to_string(),
        generic,
        class,
        name,
        flavor: (!flavor.is_empty()).then(|| flavor.to_string()),
        sys: Vec::new(),
    })
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} {s:?}"));
    }
    s.parse().map_err(|_| format!("{what} out of range: {s}"))
}

/// `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`.
fn parse_sig(value: &str) -> Result<Signature, String> {
    let fields: Vec<&str> = value.split(':').collect();
    let [ver, ittl, olen, mss, window, layout, quirks, pclass] = fields[..] else {
        return Err(format!("expected 8 `:`-separated fields in {value:?}"));
    };
    let ip_version = match ver {
        "4" => Some(4),
        "6" => Some(6),
        "*" => None,
        _ => return Err(format!("bad IP version {ver:?}")),
    };
    let (ttl, bad_ttl) = if let Some(t) = ittl.strip_suffix('-') {
        (number::<u8>(t, "initial TTL")?, true)
    } else if let Some((t, add)) = ittl.split_once('+') {
        let sum = u16::from(number::<u8>(t, "initial TTL")?)
            + u16::from(number::<u8>(add, "TTL distance")?);
        (
            u8::try_from(sum).map_err(|_| format!("initial TTL over 255: {ittl}"))?,
            false,
        )
    } else {
        (number::<u8>(ittl, "initial TTL")?, false)
    };
    if ttl == 0 {
        return Err("initial TTL 0".into());
    }
    let ip_options_len = number::<u8>(olen, "IP options length")?;
    let mss = match mss {
        "*" => None,
        m => Some(number::<u16>(m, "MSS")?),
    };
    let (win, scale) = window
        .split_once(',')
        .ok_or_else(|| format!("expected `wsize,scale`, got {window:?}"))?;
    let window = if win == "*" {
        Window::Any
    } else if let Some(m) = win.strip_prefix('%') {
        let m = number::<u16>(m, "window modulus")?;
        if m < 2 {
            return Err(format!("window modulus under 2: {win}"));
        }
        Window::Mod(m)
    } else if let Some(n) = win
        .strip_prefix("mss*")
        .or_else(|| win.strip_prefix("mtu*"))
    {
        let n = number::<i16>(n, "window multiplier")?;
        if !(1..=1000).contains(&n) {
            return Err(format!("window multiplier out of 1..1000: {win}"));
        }
        if win.starts_with("mss") {
            Window::Mss(n)
        } else {
            Window::Mtu(n)
        }
    } else {
        Window::Exact(number::<u16>(win, "window size")?)
    };
    let window_scale = match scale {
        "*" => None,
        s => Some(number::<u8>(s, "window scale")?),
    };
    let mut options = Vec::new();
    let mut eol_padding = 0u8;
    if !layout.is_empty() {
        let items: Vec<&str> = layout.split(',').collect();
        if items.len() > MAX_OPTIONS {
            return Err(format!("more than {MAX_OPTIONS} TCP options"));
        }
        for (i, item) in items.iter().enumerate() {
            let kind = match *item {
                "nop" => OPT_NOP,
                "mss" => OPT_MSS,
                "ws" => OPT_WS,
                "sok" => OPT_SOK,
                "sack" => OPT_SACK,
                "ts" => OPT_TS,
                other => {
                    if let Some(pad) = other.strip_prefix("eol+") {
                        if i + 1 != items.len() {
                            return Err("eol must be the last option".into());
                        }
                        eol_padding = number::<u8>(pad, "EOL padding")?;
                        OPT_EOL
                    } else if let Some(kind) = other.strip_prefix('?') {
                        number::<u8>(kind, "option kind")?
                    } else {
                        return Err(format!("unknown TCP option {other:?}"));
                    }
                }
            };
            options.push(kind);
        }
    }
    let mut quirk_bits = 0u32;
    for name in quirks.split(',').filter(|q| !q.is_empty()) {
        let bit = QUIRK_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown quirk {name:?}"))?;
        let v4_only = quirk::DF | quirk::NZ_ID | quirk::ZERO_ID | quirk::NZ_MBZ;
        if ip_version == Some(6) && bit & v4_only != 0 {
            return Err(format!("quirk {name:?} is IPv4 only"));
        }
        if ip_version == Some(4) && bit == quirk::FLOW {
            return Err("quirk \"flow\" is IPv6 only".into());
        }
        quirk_bits |= bit;
    }
    let payload = match pclass {
        "*" => None,
        "0" => Some(false),
        "+" => Some(true),
        _ => return Err(format!("bad payload class {pclass:?}")),
    };
    Ok(Signature {
        ip_version,
        ttl,
        bad_ttl,
        ip_options_len,
        mss,
        window,
        window_scale,
        options,
        eol_padding,
        quirks: quirk_bits,
        payload,
    })
}
