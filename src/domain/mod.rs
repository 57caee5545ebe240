//! Pure rules with no I/O: tenant types and validation, templates, health
//! scoring, sanitizing for the terminal, and parsing of sizes and durations.

pub mod sanitize;
pub mod tenant;
pub mod units;
