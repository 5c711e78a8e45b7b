//! `--probe`: how a purge weighs on Nova's own queries. While a measured
//! step runs (nova-purge, or the floor), a few clients run a Nova-like
//! workload against live instances of the same copy ([`crate::probe_ops`])
//! and time every operation; an idle phase on the same copy right before
//! the step gives the baseline. The clients run on their own threads, each
//! with its own runtime and connection: the benchmark's runtime is
//! single-threaded and blocks while nova-purge runs (`child::run_measured`),
//! and would starve them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use nova_purge_tests::server::ThrowawayDb;
use purge_api::Db;

use crate::fill::Spec;
use crate::probe_ops::{self, Op};

/// The probe's command-line options.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// While each measured step runs (nova-purge, the floor), time a
    /// Nova-like workload on live instances of the same copy: read an
    /// instance with its metadata, system metadata and info cache; add an
    /// action and an event; touch instances.updated_at. An idle phase on the
    /// same copy comes first
    #[arg(long)]
    probe: bool,

    /// Concurrent probe clients, each on its own connection; client i runs
    /// only the i-th operation of read, action, touch (round robin)
    #[arg(long, value_name = "N", default_value_t = 3, requires = "probe")]
    probe_clients: usize,

    /// Seconds of idle probing before each measured step
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5.0,
        requires = "probe"
    )]
    probe_idle: f64,

    /// Each client's pause between two operations, in milliseconds (a
    /// steady load rather than a flood on a small machine)
    #[arg(long, value_name = "MS", default_value_t = 10, requires = "probe")]
    probe_pause_ms: u64,

    /// Draw every case's probe latency over time, with its batches, as an
    /// SVG file
    #[arg(long, value_name = "FILE.svg", requires = "probe")]
    plot: Option<PathBuf>,
}

/// What `--probe` asks for, defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub clients: usize,
    pub idle: Duration,
    pub pause: Duration,
    pub plot: Option<PathBuf>,
}

impl ProbeArgs {
    /// `None` without `--probe`.
    pub fn settings(&self) -> Result<Option<Settings>> {
        if !self.probe {
            return Ok(None);
        }
        if self.probe_clients == 0 {
            bail!("--probe-clients must be at least 1");
        }
        if !(self.probe_idle.is_finite() && self.probe_idle >= 0.0) {
            bail!("--probe-idle must be a number of seconds");
        }
        Ok(Some(Settings {
            clients: self.probe_clients,
            idle: Duration::from_secs_f64(self.probe_idle),
            pause: Duration::from_millis(self.probe_pause_ms),
            plot: self.plot.clone(),
        }))
    }
}

/// One timed operation.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub op: Op,
    /// When it started, in seconds since the probe started.
    pub start: f64,
    pub seconds: f64,
    /// Whether it failed (a deadlock, a lock wait timeout); counted, and
    /// timed like the others.
    pub failed: bool,
}

/// What the probe saw around one measured step.
#[derive(Debug, Clone)]
pub struct Record {
    /// The wall clock when the probe started (offset 0), to place the
    /// batches of nova-purge's log.
    pub started_at: DateTime<Utc>,
    /// The measured step, in seconds since the probe started.
    pub step: (f64, f64),
    pub samples: Vec<Sample>,
    /// The first error of a failed operation, to say what failed.
    pub first_error: Option<String>,
}

/// Probe clients running on a copy; [`Running::finish`] stops them.
pub struct Running {
    started: Instant,
    started_at: DateTime<Utc>,
    step_started: Option<f64>,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Result<ClientLog>>>,
}

/// What one client did.
struct ClientLog {
    samples: Vec<Sample>,
    first_error: Option<String>,
}

impl Running {
    /// Connects the clients to `copy`, starts them and lets them run idle
    /// for the idle phase.
    pub async fn start(settings: &Settings, copy: &ThrowawayDb, spec: Spec) -> Result<Running> {
        let started = Instant::now();
        let started_at = Utc::now();
        let stop = Arc::new(AtomicBool::new(false));
        // Probe actions and events get ids far above the generated ones, from
        // one counter: no sequence is involved (the fill writes explicit
        // ids), and they are easy to find again.
        let next_id = Arc::new(AtomicI64::new(probe_ops::FIRST_PROBE_ID));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut clients = Vec::new();
        for client in 0..settings.clients {
            let target = probe_ops::Target {
                backend: copy.backend,
                url: copy.url.clone(),
                spec,
                op: Op::ALL[client % Op::ALL.len()],
                seed: 0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1),
                pause: settings.pause,
            };
            let stop = Arc::clone(&stop);
            let next_id = Arc::clone(&next_id);
            let ready = ready_tx.clone();
            clients.push(std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a probe client's runtime")?;
                runtime.block_on(client_loop(target, started, &stop, &next_id, ready))
            }));
        }
        drop(ready_tx);
        let mut running = Running {
            started,
            started_at,
            step_started: None,
            stop,
            clients,
        };
        // Every client connected (or failed) before the idle phase counts.
        for _ in 0..settings.clients {
            if ready_rx.recv().is_err() {
                break;
            }
        }
        if running.clients.iter().any(JoinHandle::is_finished) {
            running.stop_clients()?;
            bail!("a probe client stopped before the idle phase");
        }
        tokio::time::sleep(settings.idle).await;
        running.step_started = Some(running.elapsed());
        Ok(running)
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stops the clients when the step is over, then removes what they
    /// wrote from the copy (`db`), so that it leaves what an unprobed copy
    /// would and the copies still compare equal.
    pub async fn finish(mut self, db: &Db) -> Result<Record> {
        let step_ended = self.elapsed();
        let logs = self.stop_clients()?;
        probe_ops::clean_up(db).await?;
        let mut samples: Vec<Sample> = logs.iter().flat_map(|l| l.samples.clone()).collect();
        samples.sort_by(|a, b| a.start.total_cmp(&b.start));
        let step_started = self.step_started.unwrap_or(0.0);
        Ok(Record {
            started_at: self.started_at,
            step: (step_started, step_ended),
            samples,
            first_error: logs.into_iter().find_map(|l| l.first_error),
        })
    }

    fn stop_clients(&mut self) -> Result<Vec<ClientLog>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut logs = Vec::new();
        for client in self.clients.drain(..) {
            match client.join() {
                Ok(log) => logs.push(log?),
                Err(_) => bail!("a probe client panicked"),
            }
        }
        Ok(logs)
    }
}

impl Drop for Running {
    /// After an error in the step: the clients stop, whatever they saw.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients.drain(..) {
            let _ = client.join();
        }
    }
}

/// One client: connects, says so on `ready`, then runs its operation until
/// told to stop. One kind per client: a client that mixed them would stop
/// reading while one of its writes waits on a lock, and hide whether reads
/// are held up too.
async fn client_loop(
    target: probe_ops::Target,
    started: Instant,
    stop: &AtomicBool,
    next_id: &AtomicI64,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<ClientLog> {
    let connected = probe_ops::Client::connect(&target).await;
    let _ = ready.send(());
    let mut client = connected?;
    let mut log = ClientLog {
        samples: Vec::new(),
        first_error: None,
    };
    let op = target.op;
    while !stop.load(Ordering::Relaxed) {
        let begun = Instant::now();
        let result = client.run(op, next_id).await;
        log.samples.push(Sample {
            op,
            start: begun.duration_since(started).as_secs_f64(),
            seconds: begun.elapsed().as_secs_f64(),
            failed: result.is_err(),
        });
        if let Err(e) = result {
            log.first_error
                .get_or_insert_with(|| format!("{}: {e:#}", op.name()));
        }
        tokio::time::sleep(target.pause).await;
    }
    client.close().await;
    Ok(log)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        probe: ProbeArgs,
    }

    fn settings(args: &[&str]) -> Result<Option<Settings>> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
        cli.probe.settings()
    }

    #[test]
    fn probe_options_need_the_probe() {
        assert!(settings(&[]).unwrap().is_none());
        let probe = settings(&["--probe"]).unwrap().unwrap();
        assert_eq!(probe.clients, 3);
        // Probe options need --probe; no client is no probe.
        assert!(settings(&["--probe-clients", "2"]).is_err());
        assert!(settings(&["--probe", "--probe-clients", "0"]).is_err());
    }
}
