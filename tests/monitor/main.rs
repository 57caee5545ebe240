//! Monitoring against a real PostgreSQL, in one test binary (one cluster,
//! one link): the collector's SQL and ticks (`collect`), the `top`,
//! `health` and `usage export` commands (`cli`), detail and sessions
//! (`detail`), and a server outage (`outage`, its own cluster).

#[path = "../common/mod.rs"]
mod common;
mod support;

mod cli;
mod collect;
mod detail;
mod outage;
