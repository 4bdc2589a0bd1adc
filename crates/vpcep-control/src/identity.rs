//! Accounts, projects, AK/SK credentials and quotas (SPEC R2, S9).

use serde::Serialize;
use vpcep_core::error::{DomainError, DomainResult, quoted};
use vpcep_core::model::{
    Account, Credential, Kind, Project, QuotaOverride, QuotaType, Quotas, Resource,
};
use vpcep_store::typed::from_record;
use vpcep_store::{Query, StoreExt, TxExt};

use crate::{Control, new_hex32, now_ms};

/// An authenticated caller acting in one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub domain_id: String,
    pub project_id: String,
    pub region: String,
}

/// What account creation returns: the only time the secret key is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewAccount {
    pub name: String,
    pub domain_id: String,
    pub project_id: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewCredential {
    pub domain_id: String,
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub name: String,
    pub domain_id: String,
    pub projects: Vec<Project>,
    pub access_keys: Vec<String>,
    pub quotas: Quotas,
}

fn valid_region(region: &str) -> DomainResult<()> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::InvalidRegion {
            value: quoted(region),
        })
    }
}

impl Control {
    /// Operator: create an account with a project in `region` (default: the server's) and one
    /// AK/SK pair.
    pub async fn create_account(
        &self,
        name: &str,
        region: Option<&str>,
    ) -> DomainResult<NewAccount> {
        vpcep_core::validate::resource_name("name", name)?;
        let region = region.unwrap_or(&self.settings.region).to_string();
        valid_region(&region)?;
        let domain_id = new_hex32();
        let project_id = new_hex32();
        let created_ms = now_ms();
        let mut tx = self.store.begin().await?;
        if !tx.claim("account_name", name, &domain_id).await? {
            return Err(DomainError::AccountExists { name: quoted(name) });
        }
        tx.save(
            &Account {
                domain_id: domain_id.clone(),
                name: name.to_string(),
                created_ms,
            },
            1,
        )
        .await?;
        tx.save(
            &Project {
                project_id: project_id.clone(),
                domain_id: domain_id.clone(),
                region: region.clone(),
            },
            1,
        )
        .await?;
        tx.claim(
            "project_region",
            &format!("{domain_id}/{region}"),
            &project_id,
        )
        .await?;
        let cred = self.new_credential_in(&mut tx, &domain_id).await?;
        tx.commit().await?;
        tracing::info!(
            account = name,
            domain_id,
            project_id,
            region,
            access_key = cred.access_key,
            "account created"
        );
        Ok(NewAccount {
            name: name.to_string(),
            domain_id,
            project_id,
            region,
            access_key: cred.access_key,
            secret_key: cred.secret_key,
        })
    }

    async fn new_credential_in(
        &self,
        tx: &mut Box<dyn vpcep_store::Tx>,
        domain_id: &str,
    ) -> DomainResult<NewCredential> {
        let access_key = vpcep_auth::generate_access_key();
        let secret_key = vpcep_auth::generate_secret_key();
        // The access key is the associated data: a sealed secret copied onto another key's row
        // does not open.
        let sealed_secret = self.secrets.seal(&secret_key, &access_key);
        tx.save(
            &Credential {
                access_key: access_key.clone(),
                domain_id: domain_id.to_string(),
                sealed_secret,
                description: String::new(),
                created_ms: now_ms(),
            },
            1,
        )
        .await?;
        Ok(NewCredential {
            domain_id: domain_id.to_string(),
            access_key,
            secret_key,
        })
    }

    /// Operator: another AK/SK for an account.
    pub async fn create_credential(&self, account: &str) -> DomainResult<NewCredential> {
        let acc = self.find_account(account).await?;
        let mut tx = self.store.begin().await?;
        let cred = self.new_credential_in(&mut tx, &acc.domain_id).await?;
        tx.commit().await?;
        Ok(cred)
    }

    /// Operator: give an account a project in another region.
    pub async fn create_project(&self, account: &str, region: &str) -> DomainResult<Project> {
        valid_region(region)?;
        let acc = self.find_account(account).await?;
        let project = Project {
            project_id: new_hex32(),
            domain_id: acc.domain_id.clone(),
            region: region.to_string(),
        };
        let mut tx = self.store.begin().await?;
        if !tx
            .claim(
                "project_region",
                &format!("{}/{region}", acc.domain_id),
                &project.project_id,
            )
            .await?
        {
            return Err(DomainError::ProjectExists {
                account: quoted(account),
                region: quoted(region),
            });
        }
        tx.save(&project, 1).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// An account by name or domain id.
    pub async fn find_account(&self, name_or_id: &str) -> DomainResult<Account> {
        if let Some(a) = self.store.load::<Account>(name_or_id).await? {
            return Ok(a);
        }
        let (list, _) = self
            .store
            .load_page::<Account>(Query::of(Kind::Account).named(name_or_id))
            .await?;
        list.into_iter()
            .next()
            .ok_or_else(|| DomainError::AccountNotFound {
                name: quoted(name_or_id),
            })
    }

    pub async fn list_accounts(&self) -> DomainResult<Vec<AccountView>> {
        let (accounts, _) = self
            .store
            .load_page::<Account>(Query::of(Kind::Account))
            .await?;
        let mut out = Vec::new();
        for a in accounts {
            out.push(self.account_view(a).await?);
        }
        Ok(out)
    }

    pub async fn account_view(&self, a: Account) -> DomainResult<AccountView> {
        let (projects, _) = self
            .store
            .load_page::<Project>(Query::of(Kind::Project).parent(&a.domain_id))
            .await?;
        let (creds, _) = self
            .store
            .load_page::<Credential>(Query::of(Kind::Credential).parent(&a.domain_id))
            .await?;
        let quotas = self.quotas_for(&a.domain_id).await?;
        Ok(AccountView {
            name: a.name,
            domain_id: a.domain_id,
            projects,
            access_keys: creds.into_iter().map(|c| c.access_key).collect(),
            quotas,
        })
    }

    /// The secret key and owner of an access key, for signature verification. `None` for unknown
    /// keys or a secret that does not open (the caller answers both the same way).
    pub async fn credential_secret(
        &self,
        access_key: &str,
    ) -> DomainResult<Option<(String, String)>> {
        let c = self.store.load::<Credential>(access_key).await?;
        self.open_credential(access_key, c)
    }

    /// [`Self::credential_secret`] and the project a request names, read in one store query
    /// (every signed request needs both). Bind them with [`Self::caller_in`] once the signature
    /// holds.
    pub async fn credential_and_project(
        &self,
        access_key: &str,
        project_id: &str,
    ) -> DomainResult<(Option<(String, String)>, Option<Project>)> {
        let [credential, project] = self
            .store
            .get_each(&[(Credential::KIND, access_key), (Project::KIND, project_id)])
            .await?
            .try_into()
            .map_err(|_| DomainError::internal("store answered a different number of keys"))?;
        let credential = credential
            .as_ref()
            .map(from_record::<Credential>)
            .transpose()?;
        let project = project.as_ref().map(from_record::<Project>).transpose()?;
        Ok((self.open_credential(access_key, credential)?, project))
    }

    fn open_credential(
        &self,
        access_key: &str,
        c: Option<Credential>,
    ) -> DomainResult<Option<(String, String)>> {
        let Some(c) = c else {
            return Ok(None);
        };
        match self.secrets.open(&c.sealed_secret, &c.access_key) {
            Ok(sk) => Ok(Some((sk, c.domain_id))),
            Err(_) => {
                tracing::warn!(
                    access_key,
                    "stored secret does not open with the server key"
                );
                Ok(None)
            }
        }
    }

    /// Bind an authenticated account to the project named in the path. Another account's project
    /// (or an unknown one) is refused without saying which.
    pub async fn caller_for(&self, domain_id: &str, project_id: &str) -> DomainResult<Caller> {
        Self::caller_in(domain_id, self.store.load::<Project>(project_id).await?)
    }

    /// [`Self::caller_for`] with the project already read (`None`: there is no such project).
    pub fn caller_in(domain_id: &str, project: Option<Project>) -> DomainResult<Caller> {
        match project {
            Some(p) if p.domain_id == domain_id => Ok(Caller {
                domain_id: domain_id.to_string(),
                project_id: p.project_id,
                region: p.region,
            }),
            _ => Err(DomainError::Forbidden),
        }
    }

    /// The caller an operator acts as for `account` in `region` (its project there).
    pub async fn caller_for_account(&self, account: &str, region: &str) -> DomainResult<Caller> {
        let acc = self.find_account(account).await?;
        let (projects, _) = self
            .store
            .load_page::<Project>(Query::of(Kind::Project).parent(&acc.domain_id))
            .await?;
        let p = projects
            .into_iter()
            .find(|p| p.region == region)
            .ok_or_else(|| DomainError::NoProjectInRegion {
                account: quoted(account),
                region: quoted(region),
            })?;
        Ok(Caller {
            domain_id: acc.domain_id,
            project_id: p.project_id,
            region: p.region,
        })
    }

    pub async fn quotas_for(&self, domain_id: &str) -> DomainResult<Quotas> {
        let mut q = self.settings.default_quotas;
        if let Some(o) = self.store.load::<QuotaOverride>(domain_id).await? {
            if let Some(v) = o.endpoint_service {
                q.endpoint_service = v;
            }
            if let Some(v) = o.endpoint {
                q.endpoint = v;
            }
        }
        Ok(q)
    }

    /// Operator: set an account's quota for one resource type.
    pub async fn set_quota(
        &self,
        account: &str,
        kind: QuotaType,
        value: i64,
    ) -> DomainResult<Quotas> {
        if !(0..=1_000_000).contains(&value) {
            return Err(DomainError::QuotaValueOutOfRange { value });
        }
        let acc = self.find_account(account).await?;
        let mut tx = self.store.begin().await?;
        let mut o = tx
            .load::<QuotaOverride>(&acc.domain_id)
            .await?
            .unwrap_or(QuotaOverride {
                domain_id: acc.domain_id.clone(),
                endpoint_service: None,
                endpoint: None,
            });
        match kind {
            QuotaType::EndpointService => o.endpoint_service = Some(value),
            QuotaType::Endpoint => o.endpoint = Some(value),
        }
        tx.save(&o, 1).await?;
        tx.commit().await?;
        self.quotas_for(&acc.domain_id).await
    }

    /// `GET /v1/{project_id}/quotas`: limits and usage in the caller's project.
    pub async fn quota_usage(
        &self,
        caller: &Caller,
        only: Option<&str>,
    ) -> DomainResult<Vec<(QuotaType, i64, i64)>> {
        let types = match only {
            None | Some("") => vec![QuotaType::EndpointService, QuotaType::Endpoint],
            Some(s) => vec![QuotaType::parse(s).ok_or_else(|| DomainError::Unsupported {
                field: "type",
                value: quoted(s),
                allowed: &["endpoint_service", "endpoint"],
            })?],
        };
        let limits = self.quotas_for(&caller.domain_id).await?;
        let mut out = Vec::new();
        for t in types {
            let (kind, limit) = match t {
                QuotaType::EndpointService => (Kind::EndpointService, limits.endpoint_service),
                QuotaType::Endpoint => (Kind::Endpoint, limits.endpoint),
            };
            // Quotas are per account (SPEC S9): usage counts every project of the account.
            let mut used = 0;
            for project in self
                .store
                .list(&Query::of(Kind::Project).parent(&caller.domain_id))
                .await?
                .records
            {
                used += self
                    .store
                    .count(&Query::of(kind).project(&project.id))
                    .await?;
            }
            out.push((t, used, limit));
        }
        Ok(out)
    }
}

/// Quota check inside a write transaction (so concurrent creates cannot both pass). Quotas are per
/// account (SPEC S9): what counts is every project of the account, in every region.
pub(crate) async fn check_quota(
    tx: &mut Box<dyn vpcep_store::Tx>,
    kind: Kind,
    domain_id: &str,
    limit: i64,
    what: &'static str,
) -> DomainResult<()> {
    let projects = tx.list(&Query::of(Kind::Project).parent(domain_id)).await?;
    let mut used = 0;
    for project in &projects.records {
        used += tx.count(&Query::of(kind).project(&project.id)).await?;
    }
    if used >= limit {
        return Err(DomainError::QuotaExceeded { what, quota: limit });
    }
    Ok(())
}
