//! Kernel object names. Everything the agent makes carries the `vpcep` prefix so it can find and
//! remove exactly what it owns. Interface names must fit in 15 bytes.

/// The last 8 hex digits of an id: the random tail of a v7 UUID (its head is a timestamp shared
/// by objects created together).
pub fn short(id: &str) -> String {
    let hex: Vec<char> = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex[hex.len().saturating_sub(8)..].iter().collect()
}

/// Namespace names: `{prefix}{role}-{short id}`. The prefix (default `vpcep-`) is what the agent
/// owns: it creates and deletes only namespaces that carry it, so tests give each agent its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    pub prefix: String,
}

impl Default for Namespaces {
    fn default() -> Self {
        Self {
            prefix: "vpcep-".to_string(),
        }
    }
}

impl Namespaces {
    /// VPC router namespace.
    pub fn router(&self, vpc: &str) -> String {
        format!("{}r-{}", self.prefix, short(vpc))
    }
    pub fn server(&self, server: &str) -> String {
        format!("{}s-{}", self.prefix, short(server))
    }
    pub fn lb(&self, lb: &str) -> String {
        format!("{}l-{}", self.prefix, short(lb))
    }
    pub fn site(&self, site: &str) -> String {
        format!("{}x-{}", self.prefix, short(site))
    }
    pub fn gateway(&self, shard: u32) -> String {
        format!("{}g-{shard}", self.prefix)
    }
    pub fn owns(&self, ns: &str) -> bool {
        ns.starts_with(&self.prefix)
    }
}

/// Subnet bridge in the router namespace.
pub fn bridge(subnet: &str) -> String {
    format!("b{}", short(subnet))
}
/// Router-side end of a port's veth (enslaved to the subnet bridge).
pub fn port_peer(port: &str) -> String {
    format!("n{}", short(port))
}
/// Router-side end of a site's VPN link.
pub fn site_peer(site: &str) -> String {
    format!("x{}", short(site))
}
/// Gateway leg into a consumer subnet (gateway side / bridge side).
pub fn consumer_leg(subnet: &str) -> (String, String) {
    (format!("c{}", short(subnet)), format!("g{}", short(subnet)))
}
/// What the router-side names of provider legs start with (and no other link in a router).
pub const PROVIDER_LEG_PEER_PREFIX: &str = "h";

/// Gateway leg of `shard` into a provider VPC (gateway side / router side; a router has one per
/// shard that serves it).
pub fn provider_leg(shard: u32, vpc: &str) -> (String, String) {
    (
        format!("p{}", short(vpc)),
        format!("{PROVIDER_LEG_PEER_PREFIX}{shard}x{}", short(vpc)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_use_the_random_tail() {
        let id = "019abc12-3456-7def-8123-456789abcdef";
        assert_eq!(short(id), "89abcdef");
        assert!(bridge(id).len() <= 15);
        assert_eq!(consumer_leg(id).0, "c89abcdef");
        assert_eq!(Namespaces::default().router(id), "vpcep-r-89abcdef");
    }
}
