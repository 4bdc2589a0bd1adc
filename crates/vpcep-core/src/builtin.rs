//! The built-in DNS cloud service (SPEC S2, S8, R5): the fixed addresses and markers the control
//! plane's bootstrap creates and the data plane and DNS server look for.

/// Name of the operator account that owns the built-in cloud services.
pub const OPERATOR_ACCOUNT: &str = "operator";
/// Name of the resolver's VPC, subnet, security group and server (all in the operator project).
pub const DNS_RESOLVER_NAME: &str = "dns-resolver";
/// CIDR of the resolver's VPC.
pub const DNS_RESOLVER_VPC_CIDR: &str = "100.100.53.0/24";
/// CIDR of the resolver's subnet.
pub const DNS_RESOLVER_SUBNET_CIDR: &str = "100.100.53.0/24";
/// Gateway of the resolver's subnet.
pub const DNS_RESOLVER_GATEWAY: &str = "100.100.53.1";
/// Fixed IP of the resolver's NIC: the backend of the DNS cloud service.
pub const DNS_RESOLVER_IP: &str = "100.100.53.53";
/// Source range of endpoint traffic as a backend sees it (SNAT, SPEC S7).
pub const ENDPOINT_SNAT_CIDR: &str = "198.19.128.0/20";
/// The DNS port the service maps (UDP and TCP).
pub const DNS_PORT: u16 = 53;
/// Tag key marking a built-in cloud service; the value names which (`dns`).
pub const BUILTIN_TAG_KEY: &str = "vpcep.builtin";
/// Tag value of the built-in DNS cloud service.
pub const BUILTIN_DNS_TAG_VALUE: &str = "dns";
/// Default vendor prefix of built-in cloud service names (`{prefix}.{region}.dns`).
pub const DEFAULT_VENDOR_PREFIX: &str = "cn.ctyun";

/// Whether a service is the built-in DNS cloud service (found by its tag).
pub fn is_builtin_dns(s: &crate::model::EndpointService) -> bool {
    s.is_public
        && s.tags
            .iter()
            .any(|t| t.key == BUILTIN_TAG_KEY && t.value == BUILTIN_DNS_TAG_VALUE)
}
