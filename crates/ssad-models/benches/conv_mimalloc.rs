//! The `conv` bench with mimalloc as the global allocator, to measure what
//! candle's fresh allocation per op costs under glibc malloc.
//!
//! `cargo bench -p ssad-models --bench conv_mimalloc`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("conv.rs");
