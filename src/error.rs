//! The library's one error type. Every error is one sentence that names what
//! failed and what to do, plus a kind that decides the process exit code.

use std::fmt;

/// What sort of failure this is; maps onto the exit codes of DESIGN.md §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Something went wrong that is not the user's input (exit 1).
    Failure,
    /// The command line itself was malformed (exit 2).
    Usage,
    /// The tenant, template or file named does not exist (exit 3).
    NotFound,
    /// The change collides with existing state, e.g. a duplicate domain (exit 4).
    Conflict,
    /// Refused: read-only, missing privilege, or invalid input (exit 5).
    Refused,
}

impl ErrorKind {
    /// The process exit code for this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Failure => 1,
            ErrorKind::Usage => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Conflict => 4,
            ErrorKind::Refused => 5,
        }
    }
}

/// A failure with its kind and a message fit for an on-call engineer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failure, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// Invalid input or a refused operation (exit 5).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    /// Invalid input is a refusal in the exit-code table.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
    /// Prefix the message with context, keeping the kind.
    #[must_use]
    pub fn context(self, what: &str) -> Self {
        Self {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
    /// The JSON form printed with `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message, "kind": self.kind, "exit_code": self.exit_code() })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
