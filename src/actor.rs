//! The actor of this process, computed at the edge (the domain never reads
//! the environment): the OS user of the real uid, the host name, and the
//! `SSH_CLIENT` the environment claims.

/// `user@host`, with `(SSH_CLIENT claims IP)` when that variable is set.
/// The user comes from the real uid (not `$USER`, which anyone can set).
pub fn current_actor() -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {}", nix::unistd::getuid()), |u| u.name);
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        });
    let ssh = std::env::var("SSH_CLIENT").ok();
    crate::domain::audit::actor_from_env(Some(&user), host.as_deref(), ssh.as_deref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_is_the_real_uid_not_dollar_user() {
        let real = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        let actor = super::current_actor();
        assert!(actor.starts_with(&format!("{real}@")), "{actor}");
    }
}
