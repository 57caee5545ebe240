//! Progress of a long operation, as plain data: `db` reports it, the
//! backend forwards it, the console shows it.

use std::time::Duration;

/// A step of tenant creation, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressStep {
    pub name: String,
    /// How long this step took (not the time since the start).
    pub elapsed: Duration,
}
