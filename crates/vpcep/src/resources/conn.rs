//! Where the server is and who we are: flags, then environment, then the config file
//! (`--config`, `$VPCEP_CONFIG`, default `$HOME/.config/vpcep/config.json`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use vpcep_client::{Client, ClientError};

use super::output::{Output, kv};

/// Used when neither a flag, the environment nor the config file names a server.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8480";

/// Connection and output options shared by every resource command.
#[derive(Args, Clone)]
pub struct Conn {
    /// API base URL, e.g. http://127.0.0.1:8480.
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "VPCEP_ENDPOINT",
        value_name = "URL"
    )]
    pub endpoint: Option<String>,
    /// Access key (AK).
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "VPCEP_ACCESS_KEY",
        value_name = "AK"
    )]
    pub access_key: Option<String>,
    /// Secret key (SK). Prefer the environment or the config file to the command line.
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "VPCEP_SECRET_KEY",
        value_name = "SK",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Project id.
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "VPCEP_PROJECT_ID",
        value_name = "ID"
    )]
    pub project_id: Option<String>,
    /// Config file with endpoint, access_key, secret_key, project_id
    /// [default: $HOME/.config/vpcep/config.json].
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "VPCEP_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, help_heading = "Connection", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("project_id", &self.project_id)
            .field("config", &self.config)
            .field("output", &self.output)
            .finish()
    }
}

/// The config file.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl ConfigFile {
    /// Read `path`; `Ok(None)` when it does not exist.
    fn read(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let c = serde_json::from_str(&text)
                    .with_context(|| format!("reading the config file {}", path.display()))?;
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    eprintln!(
                        "warning: {} holds a secret key but is readable by others; run chmod 600 on it",
                        path.display()
                    );
                }
                Ok(Some(c))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the config file {}", path.display())),
        }
    }

    /// Write with mode 0600 (directories created 0700), replacing the old file atomically.
    fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(
                serde_json::to_string_pretty(self)
                    .unwrap_or_default()
                    .as_bytes(),
            )?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {}", path.display()))
    }
}

use std::os::unix::fs::DirBuilderExt;

fn default_config_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config/vpcep/config.json"))
}

impl Conn {
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config.clone().or_else(default_config_path)
    }

    /// Flags and environment over the config file. With `must_exist`, a config file named
    /// explicitly (`--config`, `VPCEP_CONFIG`) must exist.
    fn resolve(&self, must_exist: bool) -> anyhow::Result<ConfigFile> {
        let file = match self.config_path() {
            Some(p) => {
                let c = ConfigFile::read(&p)?;
                if c.is_none() && must_exist && self.config.is_some() {
                    bail!(
                        "the config file {} does not exist (create it with `vpcep configure`)",
                        p.display()
                    );
                }
                c.unwrap_or_default()
            }
            None => ConfigFile::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>| {
            flag.clone()
                .filter(|s| !s.is_empty())
                .or_else(|| file.clone())
        };
        Ok(ConfigFile {
            endpoint: pick(&self.endpoint, &file.endpoint),
            access_key: pick(&self.access_key, &file.access_key),
            secret_key: pick(&self.secret_key, &file.secret_key),
            project_id: pick(&self.project_id, &file.project_id),
        })
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        let c = self.resolve(true)?;
        let missing = |what: &str, flag: &str, env: &str| {
            anyhow!("no {what}: pass {flag}, set {env} or run `vpcep configure`")
        };
        let ak = c
            .access_key
            .ok_or_else(|| missing("access key", "--access-key", "VPCEP_ACCESS_KEY"))?;
        let sk = c
            .secret_key
            .ok_or_else(|| missing("secret key", "--secret-key", "VPCEP_SECRET_KEY"))?;
        let project = c
            .project_id
            .ok_or_else(|| missing("project id", "--project-id", "VPCEP_PROJECT_ID"))?;
        let endpoint = c.endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Client::new(&endpoint, &ak, &sk, &project).map_err(api)
    }
}

/// An API error as one line: `EndPoint.3044: message (HTTP 400, request id)`. Transport errors
/// get their root cause (reqwest's own message stops at "error sending request").
pub fn api(e: ClientError) -> anyhow::Error {
    match &e {
        ClientError::Transport { .. } => {
            let mut root: &dyn std::error::Error = &e;
            while let Some(s) = root.source() {
                root = s;
            }
            if std::ptr::addr_eq(root, &e) {
                anyhow!("{e}")
            } else {
                anyhow!("{e}: {root}")
            }
        }
        _ => anyhow!("{e}"),
    }
}

/// `.api()?`: convert a client error without piling up a cause chain.
pub trait ApiResultExt<T> {
    fn api(self) -> anyhow::Result<T>;
}

impl<T> ApiResultExt<T> for Result<T, ClientError> {
    fn api(self) -> anyhow::Result<T> {
        self.map_err(api)
    }
}

/// `vpcep configure`: write the config file (values not given are kept from the old file).
pub fn configure(conn: &Conn) -> anyhow::Result<()> {
    let path = conn.config_path().ok_or_else(|| {
        anyhow!("no config file location: HOME is not set, pass --config or set VPCEP_CONFIG")
    })?;
    let c = conn.resolve(false)?;
    let mut missing = Vec::new();
    if c.access_key.is_none() {
        missing.push("--access-key");
    }
    if c.secret_key.is_none() {
        missing.push("--secret-key");
    }
    if c.project_id.is_none() {
        missing.push("--project-id");
    }
    if !missing.is_empty() {
        bail!(
            "missing {} (flags, VPCEP_* variables or the existing config file)",
            missing.join(", ")
        );
    }
    let c = ConfigFile {
        endpoint: Some(c.endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())),
        ..c
    };
    // Reject an unusable endpoint now rather than at the first command.
    Client::new(c.endpoint.as_deref().unwrap_or_default(), "", "", "").map_err(api)?;
    c.write(&path)?;
    let shown = serde_json::json!({
        "config": path.display().to_string(),
        "endpoint": c.endpoint,
        "access_key": c.access_key,
        "project_id": c.project_id,
    });
    super::output::emit(conn.output, &shown, || {
        kv(&[
            ("config", path.display().to_string()),
            ("endpoint", c.endpoint.clone().unwrap_or_default()),
            ("access_key", c.access_key.clone().unwrap_or_default()),
            ("project_id", c.project_id.clone().unwrap_or_default()),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(config: &Path) -> Conn {
        Conn {
            endpoint: None,
            access_key: None,
            secret_key: None,
            project_id: None,
            config: Some(config.to_path_buf()),
            output: Output::Json,
        }
    }

    #[test]
    fn configure_writes_0600_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("vpcep-conf-test-{}", std::process::id()));
        let path = dir.join("sub/config.json");
        let mut c = conn(&path);
        c.endpoint = Some("http://127.0.0.1:9".into());
        c.access_key = Some("AK".into());
        c.secret_key = Some("SK".into());
        c.project_id = Some("P".into());
        configure(&c).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let plain = conn(&path);
        let r = plain.resolve(true).unwrap();
        assert_eq!(r.secret_key.as_deref(), Some("SK"));
        let mut over = conn(&path);
        over.project_id = Some("Q".into());
        assert_eq!(over.resolve(true).unwrap().project_id.as_deref(), Some("Q"));
        assert!(format!("{c:?}").contains("redacted"));
        assert!(!format!("{c:?}").contains("\"SK\""));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            conn(&path).resolve(true).is_err(),
            "an explicit config file must exist"
        );
    }
}
