//! How wrong is the queue wait estimate (`domain::queue_wait::estimate_wait`)? A discrete-event
//! simulation of synthetic days in one queue, with no I/O: callers arrive through a 12-hour
//! day on a two-peak curve, agents come and go in shifts, handle times are random
//! (log-normal), an offered agent answers after a random delay capped by the offer timeout.
//! Each arriving caller asks for a callback and is given the estimate, read exactly as
//! `GET /v1/queues/{id}/wait` reads it (callbacks waiting, free and working agents, the mean of
//! the handle times of calls ended in the last 4 hours, the latest 200, else 300 s, and the
//! offer timeout); the wait they then actually have (arrival to an agent taking the callback)
//! is measured. Reports mean absolute error, median and p90 absolute error and bias, over
//! every caller of every simulated day, beside a naive estimate (`ahead x mean handle /
//! agents`) for comparison.
//!
//! Deterministic (a seeded xorshift generator); accuracy does not depend on optimisation:
//! `cargo bench --bench wait_estimate --profile dev` (about a second).
//!
//! Environment: `RINGBACK_WAIT_DAYS=20` (days simulated, default 20),
//! `RINGBACK_WAIT_SEED=7` (first seed).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    time::Duration,
};

use ringback::domain::queue_wait::{
    DEFAULT_HANDLE_SECONDS, MAX_HANDLE_SAMPLES, Staffing, WaitInputs, estimate_wait,
};

/// xorshift64*: small, seeded, good enough for a simulation.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// Log-normal with this mean and coefficient of variation.
    fn lognormal(&mut self, mean: f64, cv: f64) -> f64 {
        let sigma2 = (1.0 + cv * cv).ln();
        let mu = mean.ln() - sigma2 / 2.0;
        (mu + sigma2.sqrt() * self.normal()).exp()
    }
}

const DAY_SECONDS: f64 = 12.0 * 3600.0;
const OFFER_TIMEOUT: f64 = 30.0;
const MEAN_HANDLE: f64 = 240.0;
const HANDLE_CV: f64 = 0.8;
/// Mean delay before an offered agent accepts (capped at the offer timeout).
const MEAN_ANSWER: f64 = 10.0;
const HISTORY_SECONDS: f64 = 4.0 * 3600.0;

/// Arrivals per hour at `t` seconds into the day: a morning peak at 10:00 and an afternoon
/// one at 14:30 over a base load (the day runs 08:00 to 20:00).
fn arrival_rate(t: f64) -> f64 {
    let h = t / 3600.0 + 8.0;
    let bump = |centre: f64, width: f64, height: f64| {
        height * (-((h - centre) / width).powi(2) / 2.0).exp()
    };
    30.0 + bump(10.0, 1.0, 110.0) + bump(14.5, 1.3, 80.0)
}

/// Agents on shift at `t`: staffed a little under the peaks, so lines form.
fn agents_on_shift(t: f64) -> usize {
    match (t / 3600.0 + 8.0) as u32 {
        8 => 4,
        9 => 8,
        10 | 11 => 9,
        12 => 7,
        13 => 6,
        14 | 15 => 8,
        16 | 17 => 6,
        _ => 3,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// An agent accepts the offer it holds (agent index).
    Accept(usize),
    /// An agent's call ends (agent index).
    End(usize),
    /// The caller with this index arrives.
    Arrive(usize),
    /// The shift changes (agents come or go).
    Shift,
}

#[derive(Clone, Copy, PartialEq)]
enum Agent {
    Free,
    /// Holding an offer of caller `usize`.
    Offered(usize),
    Busy,
}

struct Day {
    /// Seconds; each an instant in ms to order the heap.
    events: BinaryHeap<Reverse<(u64, Kind)>>,
    agents: Vec<Agent>,
    /// How many agents should be on shift now; agents beyond it leave when free.
    on_shift: usize,
    line: VecDeque<usize>,
    arrivals: Vec<f64>,
    /// Handle times of ended calls: (ended at, seconds).
    history: Vec<(f64, f64)>,
    /// Per caller: (estimate, naive estimate) when given, and the actual wait once taken.
    estimates: Vec<Option<(f64, f64)>>,
    actual: Vec<Option<f64>>,
    rng: Rng,
    accept_started: Vec<f64>,
}

fn at(t: f64) -> u64 {
    (t * 1000.0) as u64
}

impl Day {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        // Arrivals of a non-homogeneous Poisson process by thinning.
        let peak = 250.0 / 3600.0;
        let mut arrivals = Vec::new();
        let mut t = 0.0;
        loop {
            t += rng.exponential(1.0 / peak);
            if t >= DAY_SECONDS {
                break;
            }
            if rng.unit() < arrival_rate(t) / 3600.0 / peak {
                arrivals.push(t);
            }
        }
        let mut events = BinaryHeap::new();
        for (i, &t) in arrivals.iter().enumerate() {
            events.push(Reverse((at(t), Kind::Arrive(i))));
        }
        for hour in 0..12 {
            events.push(Reverse((at(f64::from(hour) * 3600.0), Kind::Shift)));
        }
        let n = arrivals.len();
        Self {
            events,
            agents: Vec::new(),
            on_shift: 0,
            line: VecDeque::new(),
            arrivals,
            history: Vec::new(),
            estimates: vec![None; n],
            actual: vec![None; n],
            rng,
            accept_started: vec![0.0; 16],
        }
    }

    fn working(&self) -> usize {
        self.agents.len()
    }

    /// What `GET /v1/queues/{id}/wait` would read now.
    fn estimate(&self, now: f64) -> Option<(f64, f64)> {
        let recent: Vec<u32> = self
            .history
            .iter()
            .rev()
            .take_while(|(ended, _)| *ended >= now - HISTORY_SECONDS)
            .take(MAX_HANDLE_SAMPLES)
            .map(|(_, s)| *s as u32)
            .collect();
        let mean = ringback::domain::queue_wait::average_handle(&recent);
        let free = self.agents.iter().filter(|a| **a == Agent::Free).count() as u32;
        let inputs = WaitInputs {
            ahead: self.line.len() as u32,
            staffing: Staffing {
                free,
                working: self.working() as u32,
            },
            average_handle_seconds: mean,
            offer_timeout: Duration::from_secs(OFFER_TIMEOUT as u64),
        };
        let estimate = f64::from(estimate_wait(&inputs)?);
        let naive = self.line.len() as f64 * f64::from(mean) / self.working() as f64;
        Some((estimate, naive))
    }

    /// Offers the head of the line to free agents (a routing pass, instantaneous).
    fn route(&mut self, now: f64) {
        for i in 0..self.agents.len() {
            if self.agents[i] != Agent::Free {
                continue;
            }
            let Some(caller) = self.line.pop_front() else {
                return;
            };
            self.agents[i] = Agent::Offered(caller);
            let answer = self.rng.exponential(MEAN_ANSWER).min(OFFER_TIMEOUT);
            self.events
                .push(Reverse((at(now + answer), Kind::Accept(i))));
        }
    }

    /// Agents beyond the shift's count leave once free (the last ones first).
    fn leave_if_over(&mut self) {
        while self.agents.len() > self.on_shift && self.agents.last() == Some(&Agent::Free) {
            self.agents.pop();
        }
    }

    fn run(mut self) -> Vec<(f64, f64, f64)> {
        while let Some(Reverse((ms, kind))) = self.events.pop() {
            let now = ms as f64 / 1000.0;
            match kind {
                Kind::Arrive(caller) => {
                    if self.working() > 0 {
                        self.estimates[caller] = self.estimate(now);
                    }
                    self.line.push_back(caller);
                }
                Kind::Accept(i) => {
                    let Agent::Offered(caller) = self.agents[i] else {
                        continue;
                    };
                    self.actual[caller] = Some(now - self.arrivals[caller]);
                    self.agents[i] = Agent::Busy;
                    if self.accept_started.len() <= i {
                        self.accept_started.resize(i + 1, 0.0);
                    }
                    self.accept_started[i] = now;
                    let handle = self.rng.lognormal(MEAN_HANDLE, HANDLE_CV).max(20.0);
                    self.events.push(Reverse((at(now + handle), Kind::End(i))));
                }
                Kind::End(i) => {
                    self.history.push((now, now - self.accept_started[i]));
                    self.agents[i] = Agent::Free;
                    self.leave_if_over();
                }
                Kind::Shift => {
                    self.on_shift = agents_on_shift(now);
                    while self.agents.len() < self.on_shift {
                        self.agents.push(Agent::Free);
                    }
                    self.leave_if_over();
                }
            }
            self.route(now);
        }
        self.estimates
            .iter()
            .zip(&self.actual)
            .filter_map(|(e, a)| Some((e.as_ref()?.0, e.as_ref()?.1, (*a)?)))
            .collect()
    }
}

struct Errors {
    mae: f64,
    median: f64,
    p90: f64,
    bias: f64,
}

fn errors(pairs: impl Iterator<Item = (f64, f64)>) -> Errors {
    let diffs: Vec<f64> = pairs.map(|(estimate, actual)| estimate - actual).collect();
    let mut abs: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let n = abs.len().max(1) as f64;
    let pct = |p: f64| abs[((abs.len() as f64 - 1.0) * p).round() as usize];
    Errors {
        mae: abs.iter().sum::<f64>() / n,
        median: pct(0.5),
        p90: pct(0.9),
        bias: diffs.iter().sum::<f64>() / n,
    }
}

fn main() {
    let days: u64 = std::env::var("RINGBACK_WAIT_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RINGBACK_WAIT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut all = Vec::new();
    for day in 0..days {
        all.extend(Day::new(seed + day).run());
    }
    let n = all.len();
    let mean_wait = all.iter().map(|(_, _, a)| a).sum::<f64>() / n.max(1) as f64;
    let mut waits: Vec<f64> = all.iter().map(|(_, _, a)| *a).collect();
    waits.sort_by(f64::total_cmp);
    let p90_wait = waits[((waits.len() as f64 - 1.0) * 0.9).round() as usize];
    let waited = all.iter().filter(|(_, _, a)| *a > OFFER_TIMEOUT).count();
    println!(
        "wait estimate over {days} synthetic days (seed {seed}): {n} callers, mean handle \
         {MEAN_HANDLE} s (cv {HANDLE_CV}), default {DEFAULT_HANDLE_SECONDS} s without history"
    );
    println!(
        "actual wait: mean {mean_wait:.0} s, p90 {p90_wait:.0} s; {waited} callers ({:.0}%) \
         waited more than {OFFER_TIMEOUT} s",
        100.0 * waited as f64 / n.max(1) as f64
    );
    println!(
        "| estimator | mean abs error (s) | median abs error (s) | p90 abs error (s) | bias (s) |"
    );
    println!("|---|---|---|---|---|");
    for (name, e) in [
        (
            "`estimate_wait`",
            errors(all.iter().map(|(e, _, a)| (*e, *a))),
        ),
        (
            "naive: ahead x mean handle / agents",
            errors(all.iter().map(|(_, naive, a)| (*naive, *a))),
        ),
    ] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:+.0} |",
            e.mae, e.median, e.p90, e.bias
        );
    }
    // The callers who waited at all, apart: where an estimate matters.
    let long: Vec<_> = all
        .iter()
        .filter(|(_, _, a)| *a > OFFER_TIMEOUT)
        .copied()
        .collect();
    let e = errors(long.iter().map(|(e, _, a)| (*e, *a)));
    let rel =
        long.iter().map(|(e, _, a)| (e - a).abs() / a).sum::<f64>() / long.len().max(1) as f64;
    println!(
        "callers who waited more than {OFFER_TIMEOUT} s: mean abs error {:.0} s, median {:.0} s, \
         p90 {:.0} s, bias {:+.0} s, mean relative error {:.0}%",
        e.mae,
        e.median,
        e.p90,
        e.bias,
        100.0 * rel
    );
}
