//! The collector across a server outage: the tick fails with one
//! connection-lost alert, then reconnects and clears it.

use crate::support::{create_tenant, monitoring, thresholds};
use tenantctl::backend::collector::Collector;
use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::domain::metrics::AlertKind;
use tenantctl::local_cluster::LocalCluster;

#[tokio::test]
async fn lost_connection_raises_one_alert_and_recovery_clears_it() {
    let mut cluster = tokio::task::spawn_blocking(LocalCluster::start)
        .await
        .expect("join")
        .expect("own cluster");
    let dbname = cluster.create_database().expect("database");
    let config = Config::for_url(&cluster.conninfo(&dbname));
    let db = Db::connect(&config).await.expect("connect");
    tenantctl::db::migrate::init(&db).await.expect("init");
    let a = create_tenant(&db, "Alpha").await;
    let all = vec![a.clone()];
    let mut col = Collector::new(&monitoring(), &thresholds());
    assert!(col.tick(&db, &all).await.is_ok());
    assert!(
        col.tick(&db, &[])
            .await
            .expect("no tenants")
            .tenants
            .is_empty()
    );

    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.pause().expect("pause");
        cluster
    })
    .await
    .expect("join");
    for _ in 0..3 {
        assert!(col.tick(&db, &all).await.is_err());
    }
    let open: Vec<_> = col
        .alerts()
        .into_iter()
        .filter(|x| x.kind == AlertKind::ConnectionLost && x.cleared_at.is_none())
        .collect();
    assert_eq!(open.len(), 1, "{:?}", col.alerts());
    assert!(col.monitor.alerts_changed());
    assert_eq!(
        col.monitor.last_snapshot().generation,
        2,
        "last good snapshot stays"
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().expect("restart");
        cluster
    })
    .await
    .expect("join");
    let snap = col.tick(&db, &all).await.expect("reconnected");
    assert!(snap.tenants.contains_key(&a.id));
    let lost: Vec<_> = col
        .alerts()
        .into_iter()
        .filter(|x| x.kind == AlertKind::ConnectionLost)
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].cleared_at.is_some(), "cleared on reconnect");
    drop(db);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .expect("stop");
}
