//! The server's certificate chain (TLS 1.2 and older send it in clear): the
//! leaf names the device (a printer's, a camera's, an appliance's own
//! self-signed certificate) and its maker.

use sha2::{Digest, Sha256};
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use super::hello::Reader;
use super::sha1::sha1;
use crate::proto::cursor::{colon_hex, hex};
use crate::proto::{Finding, rfc3339};

/// At most this many certificates of a chain are read.
const MAX_CHAIN: usize = 16;

/// The complete certificates at the start of a Certificate message body,
/// which may be cut short.
pub fn chain(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut r = Reader::new(body);
    if r.u24("certificate list length").is_err() {
        return out;
    }
    while out.len() < MAX_CHAIN {
        let Ok(len) = r.u24("certificate length") else {
            break;
        };
        let Ok(der) = r.bytes(len, "certificate") else {
            break;
        };
        out.push(der);
    }
    out
}

/// Sets `tls.subject`, `tls.issuerdn`, ... from the leaf, and
/// `tls.certificate.chain_length`. Returns false when the leaf does not
/// parse.
pub fn set_fields(finding: &mut Finding, chain: &[&[u8]]) -> bool {
    let Some(leaf) = chain.first() else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(leaf) else {
        return false;
    };
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    finding.set("subject", subject.clone());
    finding.set("issuerdn", issuer.clone());
    finding.set("serial", colon_hex(cert.raw_serial(), true));
    finding.set("notbefore", rfc3339(cert.validity().not_before.timestamp()));
    finding.set("notafter", rfc3339(cert.validity().not_after.timestamp()));
    // The span, so that a certificate's lifetime can be judged from this one
    // value where a device holds several certificates' dates.
    let lifetime = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    finding.set("certificate.validity_days", lifetime.div_euclid(86_400));
    finding.set("fingerprint", colon_hex(&sha1(leaf), false));
    finding.set("certificate.sha256", hex(&Sha256::digest(leaf)));
    finding.set("certificate.version", u64::from(cert.version().0) + 1);

    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    Some((*s).to_string())
                }
                GeneralName::IPAddress(ip) => ip_string(ip),
                _ => None,
            })
            .take(256)
            .collect();
        if !names.is_empty() {
            finding.set("certificate.san", names);
        }
    }

    if let Ok(key) = cert.public_key().parsed() {
        let (kind, bits) = match key {
            PublicKey::RSA(rsa) => ("RSA", significant_bits(rsa.modulus)),
            PublicKey::EC(point) => ("EC", ec_bits(point.data().len())),
            PublicKey::DSA(y) => ("DSA", significant_bits(y)),
            PublicKey::GostR3410(_) | PublicKey::GostR3410_2012(_) => ("GOST", 0),
            PublicKey::Unknown(raw) => ("", raw.len() * 8),
        };
        let algorithm = &cert.public_key().algorithm.algorithm;
        let kind = match oid_name(algorithm).as_deref() {
            Some("ED25519") | Some("Ed25519") => "Ed25519".to_string(),
            // Post-quantum and other keys x509-parser does not know: their
            // algorithm's name or OID, their raw size.
            name if kind.is_empty() => {
                name.map_or_else(|| algorithm.to_id_string(), str::to_string)
            }
            _ => kind.to_string(),
        };
        // Under NIST SP 800-57's 112-bit security floor: RSA and DSA below
        // 2048 bits, elliptic curves below 224 bits.
        let weak = match kind.as_str() {
            "RSA" | "DSA" => bits > 0 && bits < 2048,
            "EC" => bits > 0 && bits < 224,
            _ => false,
        };
        finding.set("certificate.key_type", kind);
        if bits > 0 {
            finding.set("certificate.key_bits", bits);
        }
        finding.set("certificate.weak_key", weak);
    }
    let sig = &cert.signature_algorithm.algorithm;
    finding.set(
        "certificate.signature_algorithm",
        oid_name(sig).unwrap_or_else(|| sig.to_id_string()),
    );
    // Without a signature check (no RSA/ECDSA verifier among the
    // dependencies), self-signed means: issued by its own subject, and the
    // key identifiers agree when both are present.
    let key_ids_agree = match (authority_key_id(&cert), subject_key_id(&cert)) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    };
    finding.set(
        "certificate.self_signed",
        subject == issuer && key_ids_agree,
    );
    finding.set("certificate.is_ca", cert.is_ca());
    finding.set("certificate.chain_length", chain.len());
    true
}

fn oid_name(oid: &Oid) -> Option<String> {
    oid2sn(oid, oid_registry()).ok().map(str::to_string)
}

fn authority_key_id<'a>(cert: &'a X509Certificate) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

fn subject_key_id<'a>(cert: &'a X509Certificate) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        })
}

/// `01:AB:...` (Suricata's serial is uppercase, its fingerprint lowercase).
/// Bits of a big-endian unsigned integer, leading zeros ignored.
fn significant_bits(int: &[u8]) -> usize {
    let digits: &[u8] = match int.iter().position(|b| *b != 0) {
        Some(i) => int.get(i..).unwrap_or_default(),
        None => &[],
    };
    match digits.first() {
        Some(first) => digits.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Curve size from an uncompressed (0x04 | X | Y) or compressed point.
fn ec_bits(point_len: usize) -> usize {
    let coordinate = match point_len {
        0 => return 0,
        n if n % 2 == 1 => (n - 1) / 2,
        n => n - 1,
    };
    match coordinate {
        66 => 521,
        n => n * 8,
    }
}

fn ip_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00");
        assert_eq!(rfc3339(1_444_492_547), "2015-10-10T15:55:47");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59");
    }

    #[test]
    fn key_sizes() {
        assert_eq!(significant_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(significant_bits(&[0x01]), 1);
        assert_eq!(significant_bits(&[]), 0);
        assert_eq!(ec_bits(65), 256);
        assert_eq!(ec_bits(97), 384);
        assert_eq!(ec_bits(133), 521);
    }

    #[test]
    fn garbage_chain() {
        assert!(chain(&[]).is_empty());
        assert!(chain(&[0, 0, 5, 0, 0, 9, 1]).is_empty());
        let mut f = Finding::new("tls", crate::proto::About::Sender);
        assert!(!set_fields(&mut f, &[&[0x30, 0x03, 1, 2, 3]]));
    }
}
