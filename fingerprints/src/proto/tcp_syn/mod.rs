//! TCP SYN and SYN+ACK signatures in p0f v3 syntax, matched against a p0f.fp
//! database loaded at run time.

/// The signatures of a p0f.fp file.
#[derive(Debug, Clone, Default)]
pub struct P0fDatabase {}
