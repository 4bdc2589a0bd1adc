//! The Huawei VPC v1 subset (`huaweicloudsdkvpc` v2 `VpcClient`, see `docs/vpc-v1-wire.md`) and
//! the lab resources under `/v1/{project_id}/lab/`.

mod loadbalancers;
mod ports;
mod security_groups;
mod servers;
mod sites;
mod subnets;
mod vpcs;

use axum::Router;
use axum::extract::Path;

use crate::AppState;

type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(vpcs::routes())
        .merge(subnets::routes())
        .merge(ports::routes())
        .merge(security_groups::routes())
        .merge(servers::routes())
        .merge(loadbalancers::routes())
        .merge(sites::routes())
}

/// Apply `limit` / `marker` paging (marker = id of the last item of the previous page).
fn paged<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    limit: Option<&str>,
    marker: Option<&str>,
) -> Vec<T> {
    let start = match marker.filter(|m| !m.is_empty()) {
        Some(m) => items
            .iter()
            .position(|x| id(x) == m)
            .map(|i| i + 1)
            .unwrap_or(items.len()),
        None => 0,
    };
    let limit = limit
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    items.into_iter().skip(start).take(limit).collect()
}

/// The Neutron id of a subnet given by either id (empty when unknown).
async fn neutron_subnet(s: &AppState, subnet_id: &str) -> String {
    match s.control.subnet_by_any_id(subnet_id).await {
        Ok(Some(sn)) => sn.neutron_subnet_id,
        _ => String::new(),
    }
}
