//! A kernel that only records: the agent's converge, report, retry and recovery logic runs
//! against it without root or namespaces. A test injects failures per namespace (the error the
//! "kernel" answers) and reads back what was applied and which flows were cut.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use vpcep_dataplane::kernel::KernelOps;
use vpcep_dataplane::kernel::linux::{ApplyStats, KernelError};
use vpcep_dataplane::plan::desired::Desired;
use vpcep_dataplane::plan::naming::Namespaces;
use vpcep_dataplane::plan::{Legs, NsPlan, Plan};

/// What the fake kernel holds and what a test controls.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Namespaces as last applied successfully.
    pub applied: BTreeMap<String, NsPlan>,
    /// Namespaces whose programming fails, with the error to report.
    pub failing: BTreeMap<String, String>,
    /// `(gateway namespace, zone, ip)` of every flow cut.
    pub cuts: Vec<(String, u16, String)>,
    /// How many applies ran (full and changed).
    pub applies: usize,
}

/// The kernel half the agent owns; [`FakeKernelHandle`] is the test's half.
#[derive(Debug, Default)]
pub struct FakeKernel {
    state: Arc<Mutex<FakeState>>,
}

/// Shared view of a [`FakeKernel`] for the test.
#[derive(Debug, Clone)]
pub struct FakeKernelHandle {
    state: Arc<Mutex<FakeState>>,
}

impl FakeKernel {
    pub fn new() -> (Self, FakeKernelHandle) {
        let state = Arc::new(Mutex::new(FakeState::default()));
        (
            Self {
                state: state.clone(),
            },
            FakeKernelHandle { state },
        )
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock has failed already; its data is still
        // the best account of what happened.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn program<'a>(
        &self,
        plan: &Plan,
        namespaces: impl Iterator<Item = &'a String>,
    ) -> BTreeMap<String, String> {
        let mut s = self.state();
        s.applies += 1;
        let mut failed = BTreeMap::new();
        for ns in namespaces {
            if let Some(why) = s.failing.get(ns).cloned() {
                s.applied.remove(ns);
                failed.insert(ns.clone(), why);
            } else if let Some(p) = plan.namespaces.get(ns) {
                s.applied.insert(ns.clone(), p.clone());
            }
        }
        failed
    }
}

impl FakeKernelHandle {
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, programming `ns` fails with `why`.
    pub fn fail(&self, ns: &str, why: &str) {
        self.state().failing.insert(ns.to_string(), why.to_string());
    }

    /// Programming `ns` works again.
    pub fn heal(&self, ns: &str) {
        self.state().failing.remove(ns);
    }

    pub fn is_applied(&self, ns: &str) -> bool {
        self.state().applied.contains_key(ns)
    }
}

#[async_trait]
impl KernelOps for FakeKernel {
    async fn apply(&mut self, plan: &Plan) -> Result<BTreeMap<String, String>, KernelError> {
        let failed = self.program(plan, plan.namespaces.keys());
        // Namespaces the plan no longer has are removed, as the real kernel layer does.
        self.state()
            .applied
            .retain(|ns, _| plan.namespaces.contains_key(ns));
        Ok(failed)
    }

    async fn apply_changed(
        &mut self,
        plan: &Plan,
        dirty: &vpcep_dataplane::plan::Dirty,
    ) -> Result<BTreeMap<String, String>, KernelError> {
        Ok(self.program(plan, dirty.keys()))
    }

    fn invalidate(&mut self) {}

    fn last(&self) -> ApplyStats {
        ApplyStats::default()
    }

    async fn cut_flows(&mut self, gateway_ns: &str, zone: u16, ip: &str) {
        self.state()
            .cuts
            .push((gateway_ns.to_string(), zone, ip.to_string()));
    }

    async fn kill_sockets(&mut self, _ns: &str, _ip: &str) {}

    async fn recover_legs(&mut self, _names: &Namespaces, _d: &Desired) -> Legs {
        Legs::default()
    }
}
