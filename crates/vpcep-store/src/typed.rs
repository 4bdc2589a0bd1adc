//! Typed access: (de)serialise [`Resource`]s to and from [`Record`]s.

use async_trait::async_trait;
use vpcep_core::model::Resource;

use crate::{Page, Query, Record, Store, StoreError, Tx};

pub fn to_record<R: Resource>(r: &R, generation: u64) -> Result<Record, StoreError> {
    Ok(Record {
        kind: R::KIND,
        id: r.id().to_string(),
        index: r.index(),
        generation,
        revision: 0,
        body: serde_json::to_value(r).map_err(StoreError::Encode)?,
    })
}

pub fn from_record<R: Resource>(rec: &Record) -> Result<R, StoreError> {
    // From the borrowed value: no copy of the body per decoded record.
    R::deserialize(&rec.body).map_err(|source| StoreError::Corrupt {
        kind: rec.kind.as_str(),
        id: rec.id.clone(),
        source,
    })
}

pub fn decode_page<R: Resource>(page: &Page) -> Result<Vec<R>, StoreError> {
    page.records.iter().map(from_record).collect()
}

#[async_trait]
pub trait TxExt {
    async fn load<R: Resource>(&mut self, id: &str) -> Result<Option<R>, StoreError>;
    async fn load_all<R: Resource>(&mut self, query: Query) -> Result<Vec<R>, StoreError>;
    /// Store `r` with the given generation.
    async fn save<R: Resource>(&mut self, r: &R, generation: u64) -> Result<(), StoreError>;
}

#[async_trait]
impl TxExt for Box<dyn Tx> {
    async fn load<R: Resource>(&mut self, id: &str) -> Result<Option<R>, StoreError> {
        match self.get(R::KIND, id).await? {
            Some(rec) => Ok(Some(from_record(&rec)?)),
            None => Ok(None),
        }
    }
    async fn load_all<R: Resource>(&mut self, mut query: Query) -> Result<Vec<R>, StoreError> {
        query.kind = Some(R::KIND);
        let page = self.list(&query).await?;
        decode_page(&page)
    }
    async fn save<R: Resource>(&mut self, r: &R, generation: u64) -> Result<(), StoreError> {
        self.put(to_record(r, generation)?).await
    }
}

#[async_trait]
pub trait StoreExt {
    async fn load<R: Resource>(&self, id: &str) -> Result<Option<R>, StoreError>;
    async fn load_page<R: Resource>(&self, query: Query) -> Result<(Vec<R>, i64), StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> StoreExt for S {
    async fn load<R: Resource>(&self, id: &str) -> Result<Option<R>, StoreError> {
        match self.get(R::KIND, id).await? {
            Some(rec) => Ok(Some(from_record(&rec)?)),
            None => Ok(None),
        }
    }
    async fn load_page<R: Resource>(&self, mut query: Query) -> Result<(Vec<R>, i64), StoreError> {
        query.kind = Some(R::KIND);
        let page = self.list(&query).await?;
        Ok((decode_page(&page)?, page.total))
    }
}
