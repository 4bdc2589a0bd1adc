//! Names the system composes (SPEC S1, R5).

/// `{region}.{name}.{id}` or `{region}.{id}`.
pub fn service_name(region: &str, short: Option<&str>, id: &str) -> String {
    match short {
        Some(n) if !n.is_empty() => format!("{region}.{n}.{id}"),
        _ => format!("{region}.{id}"),
    }
}

/// Where every VPC's hosts reach its private resolver (the default `primary_dns` of a subnet;
/// the data plane puts it on the VPC's router).
pub const VPC_RESOLVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 253);

/// The private DNS name of an endpoint: `{endpoint_id}.{service label}.vpcep.{region}.internal`,
/// where the label is the service's short name made DNS-safe, or `svc-` and the first block of
/// its id. Lower case: DNS names are case-insensitive and clients compare them lowered.
pub fn endpoint_dns_name(
    region: &str,
    service_short: Option<&str>,
    service_id: &str,
    endpoint_id: &str,
) -> String {
    let label = match service_short {
        Some(n) if !n.is_empty() => n
            .to_ascii_lowercase()
            .replace('_', "-")
            .trim_matches('-')
            .to_string(),
        _ => String::new(),
    };
    let label = if label.is_empty() {
        format!("svc-{}", service_id.split('-').next().unwrap_or(service_id))
    } else {
        label
    };
    format!("{endpoint_id}.{label}.vpcep.{region}.internal")
}

/// Name of the built-in DNS cloud service (SPEC S2): `{vendor_prefix}.{region}.dns`.
pub fn dns_cloud_service_name(vendor_prefix: &str, region: &str) -> String {
    format!("{vendor_prefix}.{region}.dns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            service_name("cn-north-4", Some("web"), "abc"),
            "cn-north-4.web.abc"
        );
        assert_eq!(service_name("cn-north-4", None, "abc"), "cn-north-4.abc");
        assert_eq!(
            endpoint_dns_name("r1", Some("My_Svc"), "1234-5678", "ep1"),
            "ep1.my-svc.vpcep.r1.internal"
        );
        assert_eq!(
            endpoint_dns_name("r1", None, "1234-5678", "ep1"),
            "ep1.svc-1234.vpcep.r1.internal"
        );
        assert_eq!(
            dns_cloud_service_name("cn.ctyun", "cn-gzt"),
            "cn.ctyun.cn-gzt.dns"
        );
    }
}
