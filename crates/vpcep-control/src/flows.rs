//! Flow records for their owners (docs/flows.md): the service's owner reads the records of
//! every endpoint of the service, an endpoint's owner those of that endpoint. Records are the
//! JSON lines this machine's agent writes (`Settings::flow_dir`); in a setup with several
//! agents each machine's records are read where they are written (the control plane answers
//! with its own machine's).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use vpcep_core::error::{DomainError, DomainResult};
use vpcep_core::flows::{FlowParams, FlowQuery, FlowRecord, FlowScope, rotated};

use crate::Control;
use crate::identity::Caller;

/// One page: records in the order they were written; `next_marker` when there may be more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowPage {
    pub records: Vec<FlowRecord>,
    pub next_marker: Option<u64>,
}

/// Files kept at most (what an agent could be configured to keep is read up to here).
const MAX_FILES: usize = 1000;

/// Read the page `q` asks for from the files in `dir`, oldest first. A line that does not
/// parse (a record cut by a crash) is skipped.
pub fn read_page(dir: &Path, q: &FlowQuery) -> std::io::Result<FlowPage> {
    let files: Vec<PathBuf> = (0..MAX_FILES)
        .map(|i| dir.join(rotated(i)))
        .take_while(|p| p.exists())
        .collect();
    let mut page = FlowPage::default();
    for path in files.iter().rev() {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            // Rotated away between listing and opening: its records are in the next file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for r in matching(file, q) {
            let r = r?;
            if page.records.len() == q.limit {
                page.next_marker = page.records.last().map(|r| r.seq);
                return Ok(page);
            }
            page.records.push(r);
        }
    }
    Ok(page)
}

/// The records of one flow file that `q` matches, in file order (lines that are not records,
/// such as a line cut by a crash, are skipped).
fn matching<'q>(
    file: std::fs::File,
    q: &'q FlowQuery,
) -> impl Iterator<Item = std::io::Result<FlowRecord>> + 'q {
    std::io::BufReader::with_capacity(1 << 16, file)
        .split(b'\n')
        .filter_map(move |line| match line {
            Err(e) => Some(Err(e)),
            Ok(line) => serde_json::from_slice::<FlowRecord>(&line)
                .ok()
                .filter(|r| q.matches(r))
                .map(Ok),
        })
}

/// The newest `n` records `q` matches, newest first (the console's recent flows): files are read
/// newest first and reading stops at the first file that completes the `n`.
pub fn read_newest(dir: &Path, q: &FlowQuery, n: usize) -> std::io::Result<Vec<FlowRecord>> {
    let mut newest: Vec<FlowRecord> = Vec::new();
    for i in 0..MAX_FILES {
        let path = dir.join(rotated(i));
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        };
        // This file's last `n` matches, oldest first.
        let mut tail = std::collections::VecDeque::with_capacity(n);
        for r in matching(file, q) {
            if tail.len() == n {
                tail.pop_front();
            }
            tail.push_back(r?);
        }
        newest.extend(tail.into_iter().rev().take(n - newest.len()));
        if newest.len() >= n {
            break;
        }
    }
    Ok(newest)
}

impl Control {
    /// The newest `n` flow records of the caller's service `id`, newest first.
    pub async fn service_recent_flows(
        &self,
        caller: &Caller,
        id: &str,
        n: usize,
    ) -> DomainResult<Vec<FlowRecord>> {
        self.get_service(caller, id).await?;
        let q = FlowParams::default().query(FlowScope::Service(id.to_string()))?;
        self.read_flows(move |dir| read_newest(dir, &q, n)).await
    }

    async fn flows(&self, q: FlowQuery) -> DomainResult<FlowPage> {
        self.read_flows(move |dir| read_page(dir, &q)).await
    }

    /// Run `read` on this machine's flow directory off the async threads (files can be large);
    /// nothing recorded (no directory) reads as empty.
    async fn read_flows<T: Default + Send + 'static>(
        &self,
        read: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
    ) -> DomainResult<T> {
        let Some(dir) = self.settings.flow_dir.clone() else {
            return Ok(T::default());
        };
        tokio::task::spawn_blocking(move || read(&dir))
            .await
            .map_err(|e| DomainError::Internal {
                detail: e.to_string(),
            })?
            .map_err(|e| DomainError::Internal {
                detail: format!("reading flow records: {e}"),
            })
    }

    /// The flow records of every endpoint of the caller's service `id`.
    pub async fn service_flows(
        &self,
        caller: &Caller,
        id: &str,
        params: &FlowParams,
    ) -> DomainResult<FlowPage> {
        self.get_service(caller, id).await?;
        self.flows(params.query(FlowScope::Service(id.to_string()))?)
            .await
    }

    /// The flow records of the caller's endpoint `id`.
    pub async fn endpoint_flows(
        &self,
        caller: &Caller,
        id: &str,
        params: &FlowParams,
    ) -> DomainResult<FlowPage> {
        self.get_endpoint(caller, id).await?;
        self.flows(params.query(FlowScope::Endpoint(id.to_string()))?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_come_first_across_rotated_files() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |i: usize, seqs: &[(u64, &str)]| {
            let lines: Vec<String> = seqs
                .iter()
                .map(|(seq, svc)| {
                    serde_json::to_string(&rec(*seq, "e", svc, "198.19.128.1:1")).expect("json")
                })
                .collect();
            std::fs::write(dir.path().join(rotated(i)), lines.join("\n") + "\n").expect("write");
        };
        write(1, &[(1, "s1"), (2, "s2"), (3, "s1")]);
        write(0, &[(4, "s1"), (5, "s2"), (6, "s1")]);
        let q = FlowParams::default()
            .query(FlowScope::Service("s1".into()))
            .expect("query");
        let seqs = |n| -> Vec<u64> {
            read_newest(dir.path(), &q, n)
                .expect("read")
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        assert_eq!(seqs(1), vec![6]);
        assert_eq!(seqs(3), vec![6, 4, 3]);
        assert_eq!(seqs(10), vec![6, 4, 3, 1]);
    }
    use vpcep_core::flows::{FlowEvent, time_text};

    fn rec(seq: u64, endpoint: &str, service: &str, translated: &str) -> FlowRecord {
        FlowRecord {
            seq,
            event: FlowEvent::Start,
            time_ns: seq * 1_000_000,
            time: time_text(seq * 1_000_000),
            gateway: "g".into(),
            endpoint_id: endpoint.into(),
            service_id: service.into(),
            project_id: "p".into(),
            domain_id: "d".into(),
            service_project_id: "q".into(),
            protocol: "tcp".into(),
            source: None,
            endpoint: None,
            translated: translated.parse().ok(),
            backend: None,
            conntrack_id: 0,
            to_backend: None,
            to_consumer: None,
            started_ns: None,
            end_reason: None,
            tcp_state: None,
            overruns: 0,
        }
    }

    #[test]
    fn pages_run_over_rotated_files_oldest_first() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |i: usize, recs: &[FlowRecord]| {
            let mut text = String::new();
            for r in recs {
                text += &serde_json::to_string(r).expect("json");
                text.push('\n');
            }
            // A torn last line (a crash mid-write) is skipped.
            if i == 1 {
                text += "{\"seq\":";
            }
            std::fs::write(dir.path().join(rotated(i)), text).expect("write");
        };
        write(
            2,
            &[
                rec(1, "e1", "s1", "198.19.128.7:1000"),
                rec(2, "e2", "s1", "198.19.128.8:1000"),
            ],
        );
        write(
            1,
            &[
                rec(3, "e1", "s1", "198.19.128.7:1001"),
                rec(4, "e3", "s2", "198.19.128.9:1"),
            ],
        );
        write(0, &[rec(5, "e2", "s1", "198.19.128.8:1001")]);
        let mut q = FlowQuery::new(FlowScope::Service("s1".into()));
        q.limit = 2;
        let p1 = read_page(dir.path(), &q).expect("page");
        assert_eq!(
            p1.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(p1.next_marker, Some(2));
        q.marker = p1.next_marker;
        let p2 = read_page(dir.path(), &q).expect("page");
        assert_eq!(
            p2.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![3, 5]
        );
        assert_eq!(p2.next_marker, None);
        let mut by_addr = FlowQuery::new(FlowScope::Service("s1".into()));
        by_addr.translated = "198.19.128.8:1001".parse().ok();
        let found = read_page(dir.path(), &by_addr).expect("page");
        assert_eq!(
            found.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![5]
        );
        let mine = FlowQuery::new(FlowScope::Endpoint("e3".into()));
        assert_eq!(read_page(dir.path(), &mine).expect("page").records.len(), 1);
        // No files yet: an empty page.
        let none = read_page(&dir.path().join("nothing"), &q).expect("page");
        assert_eq!(none, FlowPage::default());
    }
}
