//! When to re-plan: a pure, deterministic policy fed, before each step, with
//! the figures of the last step that every rank agrees on.
//!
//! Three modes ([`Replan`]): `Manual` (the caller decides, e.g. calls the
//! facade's `partition()` every ten steps), `Every(n)` (a plan before the
//! first step and then every `n` steps) and `Auto` ([`AutoReplan`]): re-plan
//! when the measured imbalance of the last step is above a threshold **and**
//! the time a new plan is predicted to save over the next
//! [`horizon`](AutoReplan::horizon) steps exceeds what the last plan cost
//! (both measured). A re-plan that did not remove at least half of the
//! imbalance it was made for (costs that do not persist from one step to the
//! next) makes the policy wait before the next one, twice as long after each
//! such failure, unless the imbalance grows to twice what it was.
//!
//! The policy only sees [`StepFigures`]; the same figures in the same order
//! give the same decisions, bit for bit, on every rank and every machine.
//!
//! ```
//! use quicklb_partition::{AutoReplan, Decision, Replan, ReplanPolicy, StepFigures};
//!
//! let mut policy = ReplanPolicy::new(Replan::Auto(AutoReplan::default()));
//! // Balanced: 100 ms on the busiest rank, 99 ms on average.
//! let even = StepFigures { max_busy: 0.100, mean_busy: 0.099, max_cell: 0.001, plan_cost: 0.001 };
//! assert!(!policy.decide(Some(&even)).replans());
//! policy.stepped();
//! // A rank became twice as busy: the next plan saves far more than it costs.
//! let hot = StepFigures { max_busy: 0.200, ..even };
//! assert!(matches!(policy.decide(Some(&hot)), Decision::Replan(_)));
//! ```

use std::fmt;

use crate::error::Error;

/// When the balancer re-plans.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Replan {
    /// Only when the caller asks (the facade's `partition()`): the default.
    #[default]
    Manual,
    /// Before the first step and then every `n` steps (`n >= 1`; `Every(1)`
    /// plans before every step). A plan asked for by the caller restarts the
    /// count.
    Every(u64),
    /// When the measured imbalance and the measured cost of a plan say so
    /// ([`AutoReplan`]).
    Auto(AutoReplan),
}

impl Replan {
    /// [`Replan::Auto`] with its default parameters.
    pub fn auto() -> Self {
        Replan::Auto(AutoReplan::default())
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `Every(0)`, or an [`AutoReplan`]
    /// threshold that is not finite and `>= 0`, or a horizon or maximum
    /// back-off of 0.
    pub fn check(&self) -> Result<(), Error> {
        match *self {
            Replan::Manual => Ok(()),
            Replan::Every(0) => Err(Error::InvalidParameter {
                name: "Replan::Every",
                value: 0.0,
                reason: "the period must be at least 1 step",
            }),
            Replan::Every(_) => Ok(()),
            Replan::Auto(a) => a.check(),
        }
    }

    /// A short name for tables and logs: `manual`, `every 5`, `auto`.
    pub fn name(&self) -> String {
        match self {
            Replan::Manual => "manual".into(),
            Replan::Every(n) => format!("every {n}"),
            Replan::Auto(_) => "auto".into(),
        }
    }
}

/// The parameters of [`Replan::Auto`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoReplan {
    /// Re-plan only when the busiest rank is more than this fraction above
    /// the best any plan can do, `max(mean, heaviest cell)` (default `0.05`:
    /// 5 %, above the timing noise of a quiet machine). Finite, `>= 0`.
    pub threshold: f64,
    /// The number of coming steps over which a plan's saving is counted
    /// against its cost (default 10, at least 1): a re-plan must save more
    /// than one `partition()` costs within this many steps.
    pub horizon: u64,
    /// The longest wait, in steps, after re-plans that did not help (default
    /// 64, at least 1).
    pub max_backoff: u64,
}

impl Default for AutoReplan {
    fn default() -> Self {
        AutoReplan {
            threshold: 0.05,
            horizon: 10,
            max_backoff: 64,
        }
    }
}

impl AutoReplan {
    /// Checks the parameters (see [`Replan::check`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad threshold, horizon or back-off.
    pub fn check(&self) -> Result<(), Error> {
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "AutoReplan::threshold",
                value: self.threshold,
                reason: "must be finite and >= 0",
            });
        }
        for (name, value) in [
            ("AutoReplan::horizon", self.horizon),
            ("AutoReplan::max_backoff", self.max_backoff),
        ] {
            if value == 0 {
                return Err(Error::InvalidParameter {
                    name,
                    value: 0.0,
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }

    /// The wait after `failures` re-plans in a row that did not help.
    fn backoff(&self, failures: u32) -> u64 {
        let doubled = 1u64.checked_shl(failures).unwrap_or(u64::MAX);
        doubled.min(self.max_backoff)
    }
}

/// What every rank measured in one step, agreed over all ranks (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepFigures {
    /// Compute time of the busiest rank (its own and borrowed cells).
    pub max_busy: f64,
    /// Mean compute time over the ranks.
    pub mean_busy: f64,
    /// The heaviest cell's cost: no plan gets a rank below it.
    pub max_cell: f64,
    /// Wall time of the last plan (`partition()`) on the slowest rank, 0 if
    /// none was measured yet.
    pub plan_cost: f64,
}

impl StepFigures {
    /// The best any plan can do: `max(mean_busy, max_cell)`.
    pub fn bound(&self) -> f64 {
        self.mean_busy.max(self.max_cell)
    }

    /// Time the busiest rank spent above the bound (seconds, `>= 0`): what a
    /// perfect plan would save per step.
    pub fn excess(&self) -> f64 {
        (self.max_busy - self.bound()).max(0.0)
    }

    /// [`excess`](Self::excess) over the bound (0 when nothing was measured).
    pub fn relative_excess(&self) -> f64 {
        let bound = self.bound();
        if bound > 0.0 {
            self.excess() / bound
        } else {
            0.0
        }
    }
}

/// Why the policy re-plans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplanReason {
    /// [`Replan::Every`]: the period is up (or no plan was made yet).
    Period {
        /// The period.
        every: u64,
    },
    /// [`Replan::Auto`]: imbalance above the threshold, saving above the cost.
    Imbalance {
        /// Relative excess of the busiest rank over the bound.
        excess: f64,
        /// Predicted saving over the horizon (seconds).
        saving: f64,
        /// Measured cost of a plan (seconds).
        cost: f64,
    },
}

/// Why the policy keeps the plan in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeepReason {
    /// [`Replan::Manual`]: the caller decides.
    Manual,
    /// [`Replan::Every`]: the period is not up.
    NotDue {
        /// Steps run with the plan in use.
        steps: u64,
        /// The period.
        every: u64,
    },
    /// [`Replan::Auto`] with no figures of a step yet.
    NoFigures,
    /// The imbalance is at or below the threshold.
    Balanced {
        /// Relative excess of the busiest rank over the bound.
        excess: f64,
    },
    /// The predicted saving does not pay for a plan.
    NotWorthIt {
        /// Predicted saving over the horizon (seconds).
        saving: f64,
        /// Measured cost of a plan (seconds).
        cost: f64,
    },
    /// Recent re-plans did not help; waiting before the next one.
    BackingOff {
        /// Relative excess of the busiest rank over the bound.
        excess: f64,
        /// Steps still to wait.
        wait: u64,
    },
}

/// The policy's answer before a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Plan now, before the step.
    Replan(ReplanReason),
    /// Keep the plan in use.
    Keep(KeepReason),
}

impl Decision {
    /// Whether this is a [`Decision::Replan`].
    pub fn replans(&self) -> bool {
        matches!(self, Decision::Replan(_))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Decision::Replan(ReplanReason::Period { every }) => {
                write!(f, "re-plan: period of {every} steps")
            }
            Decision::Replan(ReplanReason::Imbalance {
                excess,
                saving,
                cost,
            }) => write!(
                f,
                "re-plan: busiest rank {:.1} % above the bound, saves {:.3e} s against {:.3e} s",
                excess * 100.0,
                saving,
                cost
            ),
            Decision::Keep(KeepReason::Manual) => write!(f, "keep: manual re-planning"),
            Decision::Keep(KeepReason::NotDue { steps, every }) => {
                write!(f, "keep: {steps} of {every} steps")
            }
            Decision::Keep(KeepReason::NoFigures) => write!(f, "keep: nothing measured yet"),
            Decision::Keep(KeepReason::Balanced { excess }) => {
                write!(
                    f,
                    "keep: balanced ({:.1} % above the bound)",
                    excess * 100.0
                )
            }
            Decision::Keep(KeepReason::NotWorthIt { saving, cost }) => {
                write!(f, "keep: saves {saving:.3e} s, a plan costs {cost:.3e} s")
            }
            Decision::Keep(KeepReason::BackingOff { excess, wait }) => write!(
                f,
                "keep: {:.1} % above the bound, but re-plans did not help: {wait} more steps",
                excess * 100.0
            ),
        }
    }
}

/// The re-planning policy's state: feed it the figures of each step with
/// [`decide`](Self::decide), tell it that a step ran with
/// [`stepped`](Self::stepped) and that the caller planned with
/// [`planned`](Self::planned).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplanPolicy {
    mode: Replan,
    /// A plan was made (by this policy or by the caller).
    have_plan: bool,
    /// Steps run since the last plan.
    since: u64,
    /// Relative excess an `Imbalance` re-plan was made for, until the first
    /// step after it is judged.
    judging: Option<f64>,
    /// Re-plans in a row that did not remove half of their excess.
    failures: u32,
    /// Relative excess of the last of those.
    failed_excess: f64,
}

impl ReplanPolicy {
    /// A policy in `mode`, before any plan or step. The mode is not checked
    /// here (see [`Replan::check`]); `Every(0)` behaves as `Every(1)`.
    pub fn new(mode: Replan) -> Self {
        ReplanPolicy {
            mode,
            have_plan: false,
            since: 0,
            judging: None,
            failures: 0,
            failed_excess: 0.0,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Replan {
        self.mode
    }

    /// Steps run since the last plan.
    pub fn steps_since_plan(&self) -> u64 {
        self.since
    }

    /// Decides, before a step, whether to re-plan, from the figures of the
    /// last step (`None` if no step ran since the policy started or they were
    /// not measured). A `Replan` answer counts as a plan made now.
    pub fn decide(&mut self, last: Option<&StepFigures>) -> Decision {
        let decision = match self.mode {
            Replan::Manual => Decision::Keep(KeepReason::Manual),
            Replan::Every(n) => {
                let every = n.max(1);
                if !self.have_plan || self.since >= every {
                    Decision::Replan(ReplanReason::Period { every })
                } else {
                    Decision::Keep(KeepReason::NotDue {
                        steps: self.since,
                        every,
                    })
                }
            }
            Replan::Auto(auto) => match last {
                None => {
                    self.judging = None;
                    Decision::Keep(KeepReason::NoFigures)
                }
                Some(f) => self.decide_auto(&auto, f),
            },
        };
        if let Decision::Replan(reason) = decision {
            self.have_plan = true;
            self.since = 0;
            self.judging = match reason {
                ReplanReason::Imbalance { excess, .. } => Some(excess),
                ReplanReason::Period { .. } => None,
            };
        }
        decision
    }

    fn decide_auto(&mut self, auto: &AutoReplan, f: &StepFigures) -> Decision {
        let excess = f.relative_excess();
        if let Some(before) = self.judging.take() {
            // The first step after a re-plan: did it remove half the excess?
            if excess <= auto.threshold || excess <= 0.5 * before {
                self.failures = 0;
            } else {
                self.failures = self.failures.saturating_add(1);
                self.failed_excess = before;
            }
        }
        // Never NaN: `relative_excess` is 0 for figures without a bound.
        if excess <= auto.threshold {
            return Decision::Keep(KeepReason::Balanced { excess });
        }
        let saving = f.excess() * auto.horizon as f64;
        let cost = f.plan_cost;
        if cost.is_nan() || saving <= cost {
            return Decision::Keep(KeepReason::NotWorthIt { saving, cost });
        }
        if self.failures > 0 {
            let wait = auto.backoff(self.failures);
            let grown = excess >= 2.0 * self.failed_excess;
            if self.since < wait && !grown {
                return Decision::Keep(KeepReason::BackingOff {
                    excess,
                    wait: wait - self.since,
                });
            }
        }
        Decision::Replan(ReplanReason::Imbalance {
            excess,
            saving,
            cost,
        })
    }

    /// A step ran with the plan in use.
    pub fn stepped(&mut self) {
        self.since = self.since.saturating_add(1);
    }

    /// The caller planned (outside [`decide`](Self::decide)): the period and
    /// the step count restart.
    pub fn planned(&mut self) {
        self.have_plan = true;
        self.since = 0;
        self.judging = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(max: f64, mean: f64) -> StepFigures {
        StepFigures {
            max_busy: max,
            mean_busy: mean,
            max_cell: 0.001,
            plan_cost: 0.001,
        }
    }

    /// Runs `policy` over `steps`; returns the steps before which it re-planned.
    fn replans(policy: &mut ReplanPolicy, steps: &[StepFigures]) -> Vec<usize> {
        let mut at = Vec::new();
        let mut last = None;
        for (k, f) in steps.iter().enumerate() {
            if policy.decide(last.as_ref()).replans() {
                at.push(k);
            }
            policy.stepped();
            last = Some(*f);
        }
        at
    }

    #[test]
    fn manual_never_replans() {
        let mut p = ReplanPolicy::new(Replan::Manual);
        let steps = vec![figures(1.0, 0.1); 20];
        assert!(replans(&mut p, &steps).is_empty());
    }

    #[test]
    fn every_n_plans_first_then_every_n() {
        let mut p = ReplanPolicy::new(Replan::Every(3));
        let steps = vec![figures(0.1, 0.1); 10];
        assert_eq!(replans(&mut p, &steps), vec![0, 3, 6, 9]);
        // A plan of the caller restarts the count.
        let mut p = ReplanPolicy::new(Replan::Every(3));
        p.planned();
        assert!(!p.decide(None).replans());
        p.stepped();
        p.stepped();
        p.planned();
        p.stepped();
        p.stepped();
        assert!(!p.decide(None).replans());
        p.stepped();
        assert!(p.decide(None).replans());
    }

    #[test]
    fn auto_replans_on_a_change_and_not_when_steady() {
        let mut p = ReplanPolicy::new(Replan::auto());
        // Unbalanced at first (no plan yet): a plan after the first step;
        // balanced afterwards (the plan worked); a change at step 10.
        let mut steps = vec![figures(0.2, 0.1)];
        steps.extend(vec![figures(0.101, 0.1); 9]);
        steps.extend(vec![figures(0.15, 0.1)]);
        steps.extend(vec![figures(0.1, 0.1); 9]);
        assert_eq!(replans(&mut p, &steps), vec![1, 11]);
    }

    #[test]
    fn auto_weighs_saving_against_cost() {
        let mut p = ReplanPolicy::new(Replan::auto());
        // 20 % above the bound, but 10 steps save 0.02 s against a 0.05 s plan.
        let f = StepFigures {
            plan_cost: 0.05,
            ..figures(0.012, 0.01)
        };
        assert_eq!(
            p.decide(Some(&f)),
            Decision::Keep(KeepReason::NotWorthIt {
                saving: f.excess() * 10.0,
                cost: 0.05
            })
        );
        // A heavy cell bounds what a plan can do: no saving to expect.
        let g = StepFigures {
            max_cell: 0.2,
            ..figures(0.2, 0.1)
        };
        assert!(matches!(
            p.decide(Some(&g)),
            Decision::Keep(KeepReason::Balanced { .. })
        ));
    }

    #[test]
    fn auto_backs_off_when_replans_do_not_help() {
        // Costs that do not persist: the imbalance stays whatever the plan.
        let mut p = ReplanPolicy::new(Replan::auto());
        let steps = vec![figures(0.12, 0.1); 200];
        let at = replans(&mut p, &steps);
        // 1, then waits of 2, 4, 8, 16, 32, 64, 64, 64...
        assert_eq!(&at[..6], &[1, 3, 7, 15, 31, 63], "{at:?}");
        assert!(at.len() <= 8, "{at:?}");
        // A jump of the imbalance ends the wait at once.
        let mut steps = vec![figures(0.12, 0.1); 40];
        steps.push(figures(0.3, 0.1));
        steps.extend(vec![figures(0.1, 0.1); 5]);
        let mut p = ReplanPolicy::new(Replan::auto());
        let at = replans(&mut p, &steps);
        assert_eq!(at.last(), Some(&41), "{at:?}");
        // ... and a re-plan that works resets the back-off.
        assert_eq!(p.failures, 0);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Replan::Every(0).check().is_err());
        assert!(Replan::Every(1).check().is_ok());
        assert!(Replan::Manual.check().is_ok());
        for bad in [
            AutoReplan {
                threshold: f64::NAN,
                ..AutoReplan::default()
            },
            AutoReplan {
                threshold: -0.1,
                ..AutoReplan::default()
            },
            AutoReplan {
                horizon: 0,
                ..AutoReplan::default()
            },
            AutoReplan {
                max_backoff: 0,
                ..AutoReplan::default()
            },
        ] {
            assert!(Replan::Auto(bad).check().is_err(), "{bad:?}");
        }
        assert_eq!(Replan::Every(5).name(), "every 5");
        assert_eq!(Replan::default(), Replan::Manual);
    }

    #[test]
    fn decisions_read_well() {
        let d = Decision::Replan(ReplanReason::Imbalance {
            excess: 0.25,
            saving: 0.1,
            cost: 0.001,
        });
        assert!(d.to_string().contains("25.0 %"), "{d}");
        assert!(Decision::Keep(KeepReason::Manual)
            .to_string()
            .contains("manual"));
    }
}
