//! The kernel as the agent uses it: apply plans, cut flows, recover leg assignments. The agent is
//! generic over this, so its converge and report logic (failures, retries, recoveries) can be
//! tested without root against a fake kernel (`vpcep-test-support`), and runs on the real one
//! ([`crate::kernel::linux::Kernel`]) everywhere else.

pub mod dns;
pub mod fastpath;
pub mod linux;
pub mod netlink;
pub mod watch;

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::kernel::linux::{ApplyStats, KernelError};
use crate::plan::desired::Desired;
use crate::plan::naming::Namespaces;
use crate::plan::{Legs, Plan};

#[async_trait]
pub trait KernelOps: Send + 'static {
    /// Make the kernel match `plan`; the namespaces that failed, with the kernel's error.
    async fn apply(&mut self, plan: &Plan) -> Result<BTreeMap<String, String>, KernelError>;
    /// Apply `plan` where only `dirty` namespaces may have changed since the last apply.
    async fn apply_changed(
        &mut self,
        plan: &Plan,
        dirty: &crate::plan::Dirty,
    ) -> Result<BTreeMap<String, String>, KernelError>;
    /// Forget what was applied: the next apply re-checks every namespace.
    fn invalidate(&mut self);
    /// How the last apply went (logs, benchmarks).
    fn last(&self) -> ApplyStats;
    /// End the established flows of an endpoint that no longer carries traffic (the Linux
    /// kernel starts it and returns; see `Kernel::start_cut`).
    async fn cut_flows(&mut self, gateway_ns: &str, zone: u16, ip: &str);
    /// Close a lab host's sockets to a gone endpoint (what a real endpoint's reset would do).
    async fn kill_sockets(&mut self, ns: &str, ip: &str);
    /// Leg assignments as the kernel holds them (after a restart).
    async fn recover_legs(&mut self, names: &Namespaces, d: &Desired) -> Legs;
    /// Open, update and close the userspace PROXY-v2 listeners `plan` asks for (after it was
    /// applied). Kernels without a userspace path (the fake one) have nothing to do.
    async fn sync_proxies(&mut self, _plan: &Plan) {}
    /// Namespaces of `plan` were deleted behind the agent's back: let go of them and delete
    /// the veth ends they shared with surviving namespaces (see `Kernel::release_gone`), so
    /// the rebuild starts clean. Kernels without namespaces (the fake one) have nothing to do.
    async fn release_gone(&mut self, _gone: &[String], _plan: &Plan) {}
}

#[async_trait]
impl KernelOps for linux::Kernel {
    async fn apply(&mut self, plan: &Plan) -> Result<BTreeMap<String, String>, KernelError> {
        linux::Kernel::apply(self, plan).await
    }
    async fn apply_changed(
        &mut self,
        plan: &Plan,
        dirty: &crate::plan::Dirty,
    ) -> Result<BTreeMap<String, String>, KernelError> {
        linux::Kernel::apply_changed(self, plan, dirty).await
    }
    fn invalidate(&mut self) {
        linux::Kernel::invalidate(self)
    }
    fn last(&self) -> ApplyStats {
        self.last
    }
    async fn cut_flows(&mut self, gateway_ns: &str, zone: u16, ip: &str) {
        // Relayed connections first, while their conntrack entries still translate the
        // proxy's closing packets back to the endpoint's address.
        let Ok(addr) = ip.parse() else {
            return linux::cut_flows(gateway_ns, zone, ip).await;
        };
        self.proxies.cut(gateway_ns, zone, addr);
        let (ns, ip) = (gateway_ns.to_string(), ip.to_string());
        self.start_cut(addr, async move { linux::cut_flows(&ns, zone, &ip).await });
    }
    async fn kill_sockets(&mut self, ns: &str, ip: &str) {
        let Ok(addr) = ip.parse() else {
            return linux::kill_sockets(ns, ip).await;
        };
        let (ns, ip) = (ns.to_string(), ip.to_string());
        self.start_cut(addr, async move { linux::kill_sockets(&ns, &ip).await });
    }
    async fn recover_legs(&mut self, names: &Namespaces, d: &Desired) -> Legs {
        linux::recover_legs(names, d).await
    }
    async fn sync_proxies(&mut self, plan: &Plan) {
        self.proxies.sync(&self.names, plan).await
    }
    async fn release_gone(&mut self, gone: &[String], plan: &Plan) {
        let ends = linux::Kernel::release_gone(self, gone, plan).await;
        tracing::info!(namespaces = ?gone, veth_ends = ends, "let go of namespaces deleted behind the agent's back");
    }
}
