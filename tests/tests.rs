//! The one integration test binary: a module per area.

mod cli;
mod corpus;
mod properties;
mod samples;
mod support;
