//! The headless demo: seeded tenants under load, alerts raised, nothing left behind.

mod common;

use std::time::{Duration, Instant};

#[test]
fn headless_demo_seeds_loads_alerts_and_cleans_up() {
    let out = common::bin()
        .args([
            "demo",
            "--headless",
            "--tenants",
            "20",
            "--duration",
            "10s",
            "--json",
        ])
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tenants = v["tenants"].as_array().expect("tenants");
    assert_eq!(
        tenants.len(),
        20,
        "top lists every tenant when the limit allows"
    );
    assert!(
        tenants.iter().all(|t| t["status"] == "active"),
        "all tenants active"
    );
    let busy = tenants
        .iter()
        .filter(|t| {
            t["calls_per_s"].as_f64().unwrap_or(0.0) > 0.0
                && t["writes_per_s"].as_f64().unwrap_or(0.0) > 0.0
        })
        .count();
    assert!(
        busy >= 1,
        "some tenants under load show calls and writes: {tenants:#?}"
    );
    assert!(
        v["workload_ops"].as_u64().unwrap_or(0) > 50,
        "workload ran: {}",
        v["workload_ops"]
    );
    let kinds: Vec<&str> = v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["cleared_at"].is_null())
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(
        kinds.iter().any(|k| k.contains("quota")),
        "quota alert: {kinds:?}"
    );
    assert!(
        kinds.iter().any(|k| k.contains("long")),
        "long-running alert: {kinds:?}"
    );
    let pid = i32::try_from(v["cluster"]["postmaster_pid"].as_i64().expect("pid")).expect("pid");
    let dir = std::path::PathBuf::from(v["cluster"]["socket_dir"].as_str().expect("dir"));
    let start = Instant::now();
    while (nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() || dir.exists())
        && start.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "postmaster {pid} left running"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// Ctrl-C ends a long headless run early: the summary is printed, the exit
/// is clean, and no server or directory is left.
#[test]
fn ctrl_c_ends_a_headless_demo_with_its_summary() {
    use std::io::Read;
    let mut child = common::bin()
        .args([
            "demo",
            "--headless",
            "--tenants",
            "5",
            "--duration",
            "10m",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run demo");
    // Seeded and under load once the workload's tenant sessions show up.
    let child_pid = child.id();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child_pid).expect("pid"));
    let start = Instant::now();
    // A tenant session among this demo's own descendants (its server's
    // backends), not another test's.
    let sessions = || {
        let out = std::process::Command::new("ps")
            .args(["-eo", "pid=,ppid=,args="])
            .output()
            .expect("ps");
        let rows: Vec<(u32, u32, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let pid = it.next()?.parse().ok()?;
                let parent_of = it.next()?.parse().ok()?;
                Some((pid, parent_of, it.collect::<Vec<_>>().join(" ")))
            })
            .collect();
        let mut family = vec![child_pid];
        let mut i = 0;
        while i < family.len() {
            let parent = family[i];
            family.extend(rows.iter().filter(|r| r.1 == parent).map(|r| r.0));
            i += 1;
        }
        rows.iter().any(|r| {
            // A workload session, not a seeding one (seeding logs in as
            // the tenant's `…_run` role).
            family.contains(&r.0)
                && r.2.starts_with("postgres: tenant_")
                && !r
                    .2
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|u| u.ends_with("_run"))
        })
    };
    while !sessions() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the demo never started its workload"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the demo ended early"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the demo did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert!(status.success(), "exit {status:?}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("the summary, as JSON");
    assert_eq!(v["tenants"].as_array().map(Vec::len), Some(5));
    let dir = std::path::PathBuf::from(v["cluster"]["socket_dir"].as_str().expect("dir"));
    let start = Instant::now();
    while dir.exists() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}
