//! One module per protocol that carries identity. Each parses `&[u8]` into a
//! borrowed view or a typed error; none allocates per message.

pub mod dhcp;
pub mod ndp;
