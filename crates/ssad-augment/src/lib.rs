//! Pretext transformations and stochastic augmentations.
//!
//! This crate will hold the finite, indexed transformation families whose index is
//! the pretext label (RotNet's 4 rotations, GEOM's 72 flip x translate x rotate,
//! CSI's shifts, GOAD's random affine maps for tabular data) and the stochastic
//! views (CutPaste, CutPaste-Scar, the SimCLR set), all drawing their randomness
//! from an explicit seed so results do not depend on thread count.
#![warn(missing_docs)]
