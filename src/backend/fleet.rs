//! A fleet: every configured cluster at once (`--cluster all`). Each cluster
//! is worked by a task of its own, so a slow or lost cluster never holds up
//! the others: a fleet round waits at most its deadline, a cluster that has
//! not answered by then is reported as such, and a cluster still busy with
//! the previous round is skipped (coalesced, never queued).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::collector::Collector;
use crate::config::Config;
use crate::db::{self, Db};
use crate::domain::metrics::{MonitoredTenant, Snapshot};
use crate::error::{Error, Result};

/// One cluster's answer to a fleet round.
#[derive(Debug)]
pub struct ClusterReport<T> {
    pub cluster: String,
    pub result: Result<T>,
}

/// How long a fleet round waits for its clusters by default: a connect
/// attempt and a few monitoring queries.
pub fn default_deadline(config: &Config) -> Duration {
    config.monitoring.query_timeout.0 * 3 + Duration::from_secs(5)
}

/// Run `work` on every member at once, each in a task of its own; wait at
/// most `deadline`. Reports come back in member order.
pub async fn each<T, F, Fut>(
    members: &[Config],
    deadline: Duration,
    work: F,
) -> Vec<ClusterReport<T>>
where
    F: Fn(Config) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<(String, tokio::task::JoinHandle<Result<T>>)> = members
        .iter()
        .map(|m| (m.cluster_name.clone(), tokio::spawn(work(m.clone()))))
        .collect();
    let until = tokio::time::Instant::now() + deadline;
    let mut out = Vec::with_capacity(tasks.len());
    for (cluster, task) in tasks {
        let result = match tokio::time::timeout_at(until, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(Error::failure(format!(
                "cluster {cluster}: task failed: {e}"
            ))),
            Err(_) => Err(Error::failure(format!(
                "cluster {cluster} did not answer within {} s",
                deadline.as_secs()
            ))),
        };
        out.push(ClusterReport { cluster, result });
    }
    out
}

/// One cluster's part of a fleet sample.
#[derive(Debug, Clone)]
pub struct ClusterSample {
    pub cluster: String,
    pub targets: Arc<Vec<MonitoredTenant>>,
    pub snapshot: Arc<Snapshot>,
}

struct Lane {
    config: Config,
    db: Option<Db>,
    targets: Arc<Vec<MonitoredTenant>>,
    collector: Collector,
}

impl Lane {
    async fn sample(&mut self) -> Result<ClusterSample> {
        if self.db.is_none() {
            let db = Db::connect(&self.config).await?;
            db::migrate::check(&db).await?;
            let rows = db::tenants::list_tenants(&db, None).await?;
            self.targets = super::monitoring_targets(&rows, &self.config.provisioning.template_dir);
            self.db = Some(db);
        }
        let Some(db) = self.db.as_ref() else {
            return Err(Error::failure("no connection"));
        };
        match self.collector.tick_shared(db, &self.targets).await {
            Ok(snapshot) => Ok(ClusterSample {
                cluster: self.config.cluster_name.clone(),
                targets: self.targets.clone(),
                snapshot,
            }),
            Err(e) => {
                // Connect afresh next round (the server may be back by then).
                self.db = None;
                Err(e)
            }
        }
    }
}

/// The collectors of a fleet, one lane per cluster, each sampled in a task
/// of its own.
pub struct Fleet {
    lanes: Vec<(String, Arc<Mutex<Lane>>)>,
    deadline: Duration,
}

impl Fleet {
    /// Lanes for `members`; nothing connects until the first [`Fleet::tick`].
    pub fn new(members: Vec<Config>, deadline: Duration) -> Self {
        let lanes = members
            .into_iter()
            .map(|config| {
                let mut monitoring = config.monitoring.clone();
                monitoring.record_usage = false;
                let mut collector = Collector::new(&monitoring, &config.thresholds);
                collector.sampler = collector
                    .sampler
                    .with_timescale_mode(config.provisioning.timescaledb);
                (
                    config.cluster_name.clone(),
                    Arc::new(Mutex::new(Lane {
                        config,
                        db: None,
                        targets: Arc::new(Vec::new()),
                        collector,
                    })),
                )
            })
            .collect();
        Self { lanes, deadline }
    }

    /// The clusters, in order.
    pub fn clusters(&self) -> Vec<String> {
        self.lanes.iter().map(|(n, _)| n.clone()).collect()
    }

    /// One round: every cluster sampled at once; those that fail, or have
    /// not answered within the deadline, or are still busy with an earlier
    /// round, report why. Returns the reports and the round's wall time.
    pub async fn tick(&self) -> (Vec<ClusterReport<ClusterSample>>, Duration) {
        let start = Instant::now();
        let tasks: Vec<(String, tokio::task::JoinHandle<Result<ClusterSample>>)> = self
            .lanes
            .iter()
            .map(|(name, lane)| {
                let lane = lane.clone();
                let cluster = name.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut lane) = lane.try_lock_owned() else {
                        return Err(Error::failure(format!(
                            "cluster {cluster} is still answering the previous round"
                        )));
                    };
                    lane.sample().await
                });
                (name.clone(), task)
            })
            .collect();
        let until = tokio::time::Instant::now() + self.deadline;
        let mut out = Vec::with_capacity(tasks.len());
        for (cluster, task) in tasks {
            let result = match tokio::time::timeout_at(until, task).await {
                Ok(Ok(r)) => r.map_err(|e| e.context(&format!("cluster {cluster}"))),
                Ok(Err(e)) => Err(Error::failure(format!("cluster {cluster}: {e}"))),
                // The task goes on; its lane stays busy until it ends.
                Err(_) => Err(Error::failure(format!(
                    "cluster {cluster} did not answer within {:.1} s",
                    self.deadline.as_secs_f64()
                ))),
            };
            out.push(ClusterReport { cluster, result });
        }
        (out, start.elapsed())
    }
}
