//! TCP SYN and SYN+ACK signatures in p0f v3 syntax, matched against a p0f.fp
//! database loaded at run time. The handshake's IP and TCP headers name the
//! sender's TCP/IP stack (its OS) without any payload, so this works on
//! encrypted and silent devices alike. Not a `Dissector`: the sensor calls
//! [`finding`] on every SYN and SYN+ACK.

mod database;
mod packet;
#[cfg(test)]
mod tests;

pub use database::{P0fDatabase, P0fLabel, P0fMatch};
pub use packet::{
    Direction, MAX_DISTANCE, MAX_OPTIONS, OptionLayout, QUIRK_NAMES, TcpSignature, guess_distance,
    quirk, signature,
};

use crate::proto::{About, Finding, ParseError};

/// The `p0f` event of a SYN or SYN+ACK (`ip_packet` from the IP header
/// on); `None` for other packets. Without a match it still carries the
/// signature.
pub fn finding(db: &P0fDatabase, ip_packet: &[u8]) -> Result<Option<Finding>, ParseError> {
    Ok(signature(ip_packet)?.map(|sig| finding_of(db, &sig)))
}

/// The `p0f` event of a signature already read (for a SYN+ACK, with
/// [`TcpSignature::peer_mss`] set from its SYN, as p0f does).
pub fn finding_of(db: &P0fDatabase, sig: &TcpSignature) -> Finding {
    let mut f = Finding::new("p0f", About::Sender);
    f.set("direction", sig.direction.name());
    f.set("signature", sig.to_string());
    match db.classify(sig) {
        Some(m) => {
            if m.label.is_tool() {
                f.set("app", m.label.os());
            } else {
                f.set("os", m.label.os());
            }
            f.set("class", m.label.class.clone());
            f.set("label", m.label.text.clone());
            f.set("match", m.kind());
            f.set("distance", m.distance);
        }
        None => {
            f.set("distance", guess_distance(sig.ttl));
        }
    }
    f
}
