//! The replica's lag, sampled every 100 ms from a thread of its own while
//! a step runs on the primary, by a GTID heartbeat: each sample reads the
//! primary's `@@gtid_binlog_pos` (what it has logged) and the replica's
//! `@@gtid_slave_pos` (what it has applied). The lag at a sample is the
//! time since the first earlier sample whose primary position the replica
//! has not reached yet: how long the oldest change the replica is missing
//! has been waiting, to within the 100 ms between samples (0 when it has
//! applied everything). `Seconds_Behind_Master` is recorded alongside, for
//! comparison: it is the age of the event the SQL thread is applying,
//! by its timestamp in whole seconds, and says 0 while the replica is idle
//! even when the IO thread is behind.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value as Json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Row};

const EVERY: Duration = Duration::from_millis(100);
/// How long the replica may take to catch up after a step.
const CATCH_UP: Duration = Duration::from_secs(600);

/// A GTID position: domain → sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Gtid(BTreeMap<u32, u64>);

impl Gtid {
    /// `0-1-1234,1-2-56` (empty: nothing logged).
    fn parse(text: &str) -> Gtid {
        Gtid(
            text.split(',')
                .filter_map(|part| {
                    let mut fields = part.trim().split('-');
                    let domain = fields.next()?.parse().ok()?;
                    let seq = fields.nth(1)?.parse().ok()?;
                    Some((domain, seq))
                })
                .collect(),
        )
    }

    /// Whether this position includes `other`, in every domain.
    fn reached(&self, other: &Gtid) -> bool {
        other
            .0
            .iter()
            .all(|(d, seq)| self.0.get(d).is_some_and(|mine| mine >= seq))
    }

    fn seq(&self) -> u64 {
        self.0.values().sum()
    }
}

/// One sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Since the sampler started (just before the step).
    pub at: Duration,
    pub lag: Duration,
    /// Sequence numbers (summed over domains; one domain here).
    pub primary_seq: u64,
    pub replica_seq: u64,
    pub seconds_behind_master: Option<u64>,
}

/// The samples of one step.
#[derive(Debug, Clone)]
pub struct LagSeries {
    pub samples: Vec<Sample>,
    /// When the step ended, since the sampler started.
    pub step_end: Duration,
    /// When the replica had applied everything the primary had logged at
    /// the step's end (`None`: not within ten minutes).
    pub caught_up: Option<Duration>,
}

impl LagSeries {
    /// The largest lag seen, until the replica caught up.
    pub fn max_lag(&self) -> Duration {
        self.samples.iter().map(|s| s.lag).max().unwrap_or_default()
    }

    pub fn max_seconds_behind_master(&self) -> Option<u64> {
        self.samples
            .iter()
            .filter_map(|s| s.seconds_behind_master)
            .max()
    }

    /// How long after the step the replica caught up.
    pub fn catch_up(&self) -> Option<Duration> {
        self.caught_up.map(|c| c.saturating_sub(self.step_end))
    }

    pub fn json(&self) -> Json {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        json!({
            "method": "gtid heartbeat every 100 ms: time since the oldest primary position (gtid_binlog_pos) the replica (gtid_slave_pos) has not applied",
            "max_lag_ms": ms(self.max_lag()),
            "max_seconds_behind_master": self.max_seconds_behind_master(),
            "step_end_ms": ms(self.step_end),
            "caught_up_ms": self.caught_up.map(ms),
            "catch_up_after_step_ms": self.catch_up().map(ms),
            "columns": ["at_ms", "lag_ms", "primary_seq", "replica_seq", "seconds_behind_master"],
            "samples": self.samples.iter().map(|s| json!([
                ms(s.at), ms(s.lag), s.primary_seq, s.replica_seq, s.seconds_behind_master
            ])).collect::<Vec<_>>(),
        })
    }
}

/// A running sampler.
pub struct Sampler {
    step_done: Arc<AtomicBool>,
    thread: JoinHandle<Result<LagSeries>>,
}

impl Sampler {
    /// Starts sampling (server URLs without a database); returns once the
    /// first sample is taken.
    pub fn start(primary: &str, replica: &str) -> Result<Sampler> {
        let step_done = Arc::new(AtomicBool::new(false));
        let (primary, replica) = (primary.to_owned(), replica.to_owned());
        let done = step_done.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("np-bench-lag".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(sample(&primary, &replica, &done, ready_tx))
            })?;
        // Ready, or the thread failed (its sender is gone): `finish` says why.
        let _ = ready_rx.recv();
        Ok(Sampler { step_done, thread })
    }

    /// The step is over: waits until the replica has applied what the
    /// primary had logged by now, and returns the samples.
    pub fn finish(self) -> Result<LagSeries> {
        self.step_done.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the lag sampler panicked"))?
    }
}

async fn connect(url: &str) -> Result<MySqlConnection> {
    MySqlConnectOptions::from_str(url)?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

async fn sample(
    primary_url: &str,
    replica_url: &str,
    step_done: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<LagSeries> {
    let mut primary = connect(primary_url).await?;
    let mut replica = connect(replica_url).await?;
    let started = Instant::now();
    let mut samples = Vec::new();
    // (when, what the primary had logged) of the samples the replica had
    // not caught up with, oldest first.
    let mut pending: Vec<(Instant, Gtid)> = Vec::new();
    let mut target: Option<(Duration, Gtid)> = None;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        super::interrupt::check()?;
        let now = Instant::now();
        let logged: String = sqlx::query_scalar("SELECT @@GLOBAL.gtid_binlog_pos")
            .fetch_one(&mut primary)
            .await?;
        let applied: String = sqlx::query_scalar("SELECT @@GLOBAL.gtid_slave_pos")
            .fetch_one(&mut replica)
            .await?;
        let status = sqlx::query("SHOW SLAVE STATUS")
            .fetch_optional(&mut replica)
            .await?;
        let seconds_behind_master = status.and_then(|row| {
            row.try_get::<Option<u64>, _>("Seconds_Behind_Master")
                .ok()
                .flatten()
        });
        let (logged, applied) = (Gtid::parse(&logged), Gtid::parse(&applied));
        pending.push((now, logged.clone()));
        pending.retain(|(_, position)| !applied.reached(position));
        let lag = pending
            .first()
            .map_or(Duration::ZERO, |(at, _)| now.duration_since(*at));
        samples.push(Sample {
            at: now.duration_since(started),
            lag,
            primary_seq: logged.seq(),
            replica_seq: applied.seq(),
            seconds_behind_master,
        });
        if samples.len() == 1 {
            let _ = ready.send(());
        }
        if target.is_none() && step_done.load(Ordering::SeqCst) {
            target = Some((now.duration_since(started), logged));
        }
        if let Some((step_end, position)) = &target {
            let caught_up = applied.reached(position);
            let elapsed = now.duration_since(started);
            if caught_up || elapsed.saturating_sub(*step_end) > CATCH_UP {
                return Ok(LagSeries {
                    samples,
                    step_end: *step_end,
                    caught_up: caught_up.then_some(elapsed),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Gtid;

    #[test]
    fn positions_compare_per_domain() {
        let p = Gtid::parse("0-1-100,1-2-5");
        assert!(Gtid::parse("0-1-100,1-2-5").reached(&p));
        assert!(Gtid::parse("0-2-101,1-2-6").reached(&p));
        assert!(!Gtid::parse("0-1-99,1-2-9").reached(&p));
        assert!(!Gtid::parse("0-1-100").reached(&p));
        assert!(Gtid::parse("").reached(&Gtid::parse("")));
        assert_eq!(p.seq(), 105);
    }
}
