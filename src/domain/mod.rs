//! Pure rules with no I/O: tenant types and validation, templates, health
//! scoring, metrics types, audit entries, sanitizing for the terminal, and
//! parsing of sizes and durations.

pub mod activity;
pub mod alerts;
pub mod audit;
pub mod fleet;
pub mod health;
pub mod metrics;
pub mod progress;
pub mod runs;
pub mod sanitize;
pub mod targets;
pub mod template;
pub mod tenant;
pub mod thresholds;
pub mod units;
