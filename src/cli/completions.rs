//! `tenantctl completions SHELL`: clap's completion script, with the tenant
//! arguments completing the domains of the configured cluster when it answers
//! within two seconds (`source <(tenantctl completions zsh)` refreshes them
//! with each new shell).

use std::time::Duration;

use clap::CommandFactory;
use clap::builder::PossibleValuesParser;

use super::Cli;
use super::output::emit;
use crate::config::{Config, Overrides};
use crate::db::Db;
use crate::error::Result;

/// Subcommands whose `tenant` argument (positional or `--tenant`) names a tenant.
const TENANT_ARGS: &[&str] = &[
    "show",
    "update",
    "suspend",
    "resume",
    "delete",
    "credentials",
    "health",
    "audit",
];

/// Tenant domains of the configured cluster, or none when it is not
/// reachable quickly (completions must not hang a shell's start).
async fn domains(overrides: &Overrides) -> Vec<String> {
    let fetch = async {
        let config = Config::load(overrides).ok()?;
        let db = Db::connect(&config).await.ok()?;
        crate::db::tenants::list_tenants(&db, None)
            .await
            .ok()
            .map(|ts| {
                ts.into_iter()
                    .filter(|t| t.status != crate::domain::tenant::TenantStatus::Deleted)
                    .map(|t| t.domain)
                    .collect::<Vec<_>>()
            })
    };
    tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The completion script, tenant domains included when given.
pub fn script(shell: clap_complete::Shell, domains: &[String]) -> String {
    let mut cmd = Cli::command();
    if !domains.is_empty() {
        let safe: Vec<String> = domains
            .iter()
            .filter(|d| {
                d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
            .cloned()
            .collect();
        for name in TENANT_ARGS {
            let values = safe.clone();
            cmd = cmd.mut_subcommand(*name, move |sub| {
                sub.mut_arg("tenant", move |a| {
                    a.value_parser(PossibleValuesParser::new(values))
                })
            });
        }
    }
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tenantctl", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Print the completion script.
pub async fn print(shell: clap_complete::Shell, overrides: &Overrides) -> Result<i32> {
    let d = domains(overrides).await;
    emit(&script(shell, &d));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_appear_in_the_script() {
        let s = script(
            clap_complete::Shell::Bash,
            &["acme.example".into(), "evil;rm -rf".into()],
        );
        assert!(s.contains("acme.example"));
        assert!(
            !s.contains("evil;rm"),
            "only domain-shaped values are embedded"
        );
        assert!(!script(clap_complete::Shell::Bash, &[]).contains("acme.example"));
    }
}
