//! mirador's sensor: the packet pipeline and everything with I/O, in data
//! flow order: capture -> decode -> flow -> extract -> inventory -> export,
//! wired together by the pipeline.

pub mod capture;
pub mod decode;
pub mod flow;
pub mod extract;
pub mod inventory;
pub mod export;
pub mod pipeline;
