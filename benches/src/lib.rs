//! Benchmarks for mirador.
