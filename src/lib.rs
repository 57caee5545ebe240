//! tenantctl: the operations console of a schema-per-tenant PostgreSQL platform.
//!
//! - [`config`]: file + environment + flags into one [`config::Config`]; libpq
//!   connection parameters (`conninfo`), `.pgpass`, sslmode.
//! - [`domain`]: pure rules with no I/O: tenant types and validation,
//!   templates, health scoring, sizes and durations, terminal sanitizing.
//! - [`db`]: the only room with SQL: connecting (TLS, pool), control-schema
//!   migrations, tenant repository and provisioning, metrics, audit.
//! - [`backend`]: the async task between console/CLI and `db`: Commands in,
//!   Events out; the collector timer; the metrics store.
//! - [`tui`]: the console: app loop, actions, pure update, panes.
//! - [`cli`]: headless subcommands and their table/JSON/CSV output.
//! - [`local_cluster`]: a throwaway PostgreSQL for tests, benches and the demo.
//! - [`logging`]: tracing to a file, never to the console's terminal.
//! - [`template_files`]: template files read from disk (the edge), parsed by
//!   `domain::template`.

pub mod actor;
pub mod alloc;
pub mod backend;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod local_cluster;
pub mod logging;
pub mod template_files;
pub mod tui;

pub use error::{Error, ErrorKind, Result};
