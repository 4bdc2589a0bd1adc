//! Where the server keeps its files, and how the store and keys are opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use vpcep_control::{Control, Settings};
use vpcep_store::{SharedStore, SqlStore};

/// Store location and server settings shared by `serve` and `admin`.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// JSON file of settings (keys as the flags, e.g. `data_dir`); flags and env win over it.
    #[arg(long, global = true, env = "VPCEP_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Directory holding the SQLite database, the server key and the agent token.
    #[arg(
        long,
        global = true,
        env = "VPCEP_DATA_DIR",
        default_value = "./vpcep-data"
    )]
    pub data_dir: PathBuf,
    /// Directory of this machine's flow records (docs/flows.md), written by the built-in agent
    /// and read by the flows queries. Default: `<data-dir>/flows`.
    #[arg(long, global = true, env = "VPCEP_FLOW_DIR")]
    pub flow_dir: Option<PathBuf>,
    /// Use this database instead of the embedded SQLite file (`postgres://…` or `sqlite://…`).
    #[arg(long, global = true, env = "VPCEP_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Key that seals secret keys at rest (hex, 32 bytes). Default: `<data-dir>/server.key`,
    /// created on first start. Keep it outside backups of the database.
    #[arg(long, global = true, env = "VPCEP_SERVER_KEY_FILE")]
    pub server_key_file: Option<PathBuf>,
    /// The region this deployment serves (new accounts get a project in it).
    #[arg(
        long,
        global = true,
        env = "VPCEP_REGION",
        default_value = "cn-north-4"
    )]
    pub region: String,
    /// Prefix of the built-in DNS cloud service's name, `{prefix}.{region}.dns` (SPEC S2; e.g.
    /// `cn.ctyun` gives `cn.ctyun.cn-gzt.dns`).
    #[arg(
        long,
        global = true,
        env = "VPCEP_VENDOR_PREFIX",
        default_value = vpcep_core::builtin::DEFAULT_VENDOR_PREFIX
    )]
    pub vendor_prefix: String,
    /// Default quota of endpoint services per account.
    #[arg(
        long,
        global = true,
        env = "VPCEP_DEFAULT_SERVICE_QUOTA",
        default_value_t = 20
    )]
    pub default_service_quota: i64,
    /// Default quota of endpoints per account.
    #[arg(
        long,
        global = true,
        env = "VPCEP_DEFAULT_ENDPOINT_QUOTA",
        default_value_t = 50
    )]
    pub default_endpoint_quota: i64,
}

impl StoreArgs {
    pub fn flow_dir(&self) -> PathBuf {
        self.flow_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("flows"))
    }

    pub async fn open(&self) -> anyhow::Result<(Control, Arc<SqlStore>)> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let store = match &self.database_url {
            Some(url) => SqlStore::connect(url)
                .await
                .context("opening the database")?,
            None => SqlStore::open_sqlite(&self.data_dir.join("vpcep.db"))
                .await
                .context("opening the SQLite store")?,
        };
        let store = Arc::new(store);
        let key_path = self
            .server_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.key"));
        let secrets = vpcep_auth::load_or_create_key_file(&key_path)
            .with_context(|| format!("loading the server key {}", key_path.display()))?;
        let settings = Settings {
            region: self.region.clone(),
            vendor_prefix: self.vendor_prefix.clone(),
            default_quotas: vpcep_core::model::Quotas {
                endpoint_service: self.default_service_quota,
                endpoint: self.default_endpoint_quota,
            },
            flow_dir: Some(self.flow_dir()),
            ..Settings::default()
        };
        let shared: SharedStore = store.clone();
        // The records are served through the Huawei front, so their failures carry its codes.
        let control = Control::new(
            shared,
            settings,
            secrets,
            vpcep_huawei::error::recorded_failure,
        );
        Ok((control, store))
    }
}

/// Read the agent token from `path`, creating a random one (mode 0600) if missing.
pub fn load_or_create_token(path: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = hex::encode(bytes);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(token.as_bytes())?;
    Ok(token)
}

/// Server settings from a JSON file (`--config-file FILE` or `VPCEP_CONFIG_FILE`), e.g.
/// `{"listen": "0.0.0.0:8480", "data_dir": "/var/lib/vpcep", "region": "cn-north-4"}`. Each key
/// becomes the `VPCEP_<KEY>` environment default, so a flag beats the environment, which beats
/// the file.
pub fn apply_config_file() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .iter()
        .position(|a| a == "--config-file")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config-file=").map(str::to_string))
        });
    let Some(path) = from_args.or_else(|| std::env::var("VPCEP_CONFIG_FILE").ok()) else {
        return Ok(());
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading config file {path}"))?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("config file {path} must be a JSON object"))?;
    for (key, value) in map {
        let var = format!("VPCEP_{}", key.to_ascii_uppercase().replace('-', "_"));
        if std::env::var_os(&var).is_some() {
            continue;
        }
        let v = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        #[allow(unsafe_code)]
        // SAFETY: runs first thing in main, before the runtime or any other thread exists.
        unsafe {
            std::env::set_var(var, v)
        };
    }
    Ok(())
}

/// The data plane's own options.
#[derive(clap::Args, Debug, Clone)]
pub struct DataPlaneArgs {
    /// Leave the provider routers' tc-BPF fast path off: every router forwards the normal way
    /// (docs/dataplane.md, "Fast path").
    #[arg(long, env = "VPCEP_NO_FAST_PATH")]
    pub no_fast_path: bool,
}

impl DataPlaneArgs {
    /// The kernel the agent programs, with or without the fast path.
    pub fn kernel(
        &self,
        names: vpcep_dataplane::plan::naming::Namespaces,
    ) -> vpcep_dataplane::kernel::linux::Kernel {
        vpcep_dataplane::kernel::linux::Kernel::with_fast_path(names, !self.no_fast_path)
    }
}

/// How an agent writes flow records (docs/flows.md).
#[derive(clap::Args, Debug, Clone)]
pub struct FlowArgs {
    /// Rotate a flow file once it reaches this many MiB.
    #[arg(long, env = "VPCEP_FLOW_FILE_MB", default_value_t = 64)]
    pub flow_file_mb: u64,
    /// Flow files kept (the current one included); the oldest is dropped.
    #[arg(long, env = "VPCEP_FLOW_FILES", default_value_t = 8)]
    pub flow_files: usize,
    /// Write no flow records.
    #[arg(long, env = "VPCEP_NO_FLOWS")]
    pub no_flows: bool,
}

impl FlowArgs {
    /// The agent's flow settings for `dir`, unless records are off.
    pub fn config(&self, dir: PathBuf) -> Option<vpcep_dataplane::agent::flows::FlowConfig> {
        (!self.no_flows).then(|| vpcep_dataplane::agent::flows::FlowConfig {
            dir,
            file_bytes: self.flow_file_mb.max(1) << 20,
            files: self.flow_files.max(1),
        })
    }
}
