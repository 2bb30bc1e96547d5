//! Benchmarks for mirador, and the pieces they share:
//!
//! - [`fixtures`]: finding the fixture captures and holding their packets in
//!   memory, on one timeline, for the micro-benchmarks;
//! - [`timeline`]: joining captures recorded at different times into one
//!   increasing timeline;
//! - [`synth`]: rewriting a frame's addresses for a synthetic site, which
//!   `make-bench-capture` uses to grow a large capture out of small ones;
//! - [`pcap_out`]: writing a classic pcap file.

pub mod fixtures;
pub mod pcap_out;
pub mod synth;
pub mod timeline;
