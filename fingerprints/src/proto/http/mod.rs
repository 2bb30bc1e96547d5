//! HTTP/1.x requests and responses: method, host, URI, User-Agent, Server, header order; UPnP description XML.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
