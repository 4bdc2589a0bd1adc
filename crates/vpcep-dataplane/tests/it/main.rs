//! Data-plane tests. `converge` runs anywhere (the agent against a fake kernel); the rest are
//! root end-to-end tests: a control plane in-process, the real agent programming network
//! namespaces with a test-unique prefix, and real traffic between namespaces it made. Skipped
//! (with a message) when not root or when `nft` is missing. Every namespace is removed at the end,
//! also on failure (`Lab` drops tear down by prefix).

mod architecture;
mod converge;
mod dns;
mod doctor;
mod elements;
mod failures;
mod fast_path;
mod flow_records;
mod flows;
mod gateway_mac;
mod lab;
mod layout;
mod lb;
mod metrics;
mod proxy;
mod scenarios;
mod sites;
mod usage;
