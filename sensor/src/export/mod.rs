//! Where results go. One module per sink: EVE JSON lines for events, the
//! inventory as a JSON document, and the device table for people.

pub mod eve;
pub mod inventory_json;
pub mod table;
