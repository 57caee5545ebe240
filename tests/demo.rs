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
