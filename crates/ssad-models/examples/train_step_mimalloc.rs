//! The `train_step` example with mimalloc as the global allocator (candle
//! allocates a fresh output for every op; see `docs/performance.md`).
//!
//! `cargo run --release -p ssad-models --example train_step_mimalloc -- --net small32`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("train_step.rs");
