//! Noticing a namespace removed behind the agent's back: an inotify watch on `/run/netns` (where
//! `ip netns` keeps namespace handles). The agent repairs at once instead of finding out at the
//! next change: its applied-state cache would otherwise still say "in place".
//!
//! A thread does the blocking reads and hands names to tokio over a channel (registering the fd
//! with tokio's reactor would take `unsafe`, which this workspace denies).

use std::io;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::sync::mpsc;

/// Where `ip netns` keeps the handles of named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Names of namespace handles deleted from (or, with [`NamespaceWatch::creations`], created in)
/// [`NETNS_DIR`], as they happen.
pub struct NamespaceWatch {
    deleted: mpsc::UnboundedReceiver<String>,
}

impl NamespaceWatch {
    /// Watch [`NETNS_DIR`] for deletions (created if missing, as `ip netns add` would).
    pub fn new() -> io::Result<Self> {
        Self::watch(AddWatchFlags::IN_DELETE)
    }

    /// Watch [`NETNS_DIR`] for new namespaces. The handle appears just before the namespace is
    /// mounted on it, so a user of the name may have to try again a moment later.
    pub fn creations() -> io::Result<Self> {
        Self::watch(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
    }

    fn watch(flags: AddWatchFlags) -> io::Result<Self> {
        std::fs::create_dir_all(NETNS_DIR)?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(NETNS_DIR, flags)?;
        let (tx, deleted) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("netns-watch".into())
            .spawn(move || {
                // Ends when the watch is dropped (the next send fails) or inotify breaks.
                while let Ok(events) = inotify.read_events() {
                    for name in events.into_iter().filter_map(|e| e.name) {
                        if tx.send(name.to_string_lossy().into_owned()).is_err() {
                            return;
                        }
                    }
                }
            })?;
        Ok(Self { deleted })
    }

    /// Every name seen since the last call (waits for at least one).
    pub async fn names(&mut self) -> Vec<String> {
        let Some(first) = self.deleted.recv().await else {
            // The reader thread is gone: nothing will ever come.
            return std::future::pending().await;
        };
        let mut names = vec![first];
        while let Ok(more) = self.deleted.try_recv() {
            names.push(more);
        }
        names
    }
}

/// The next names `watch` sees, or never when there is no watch (the caller runs without one).
pub async fn next_names(watch: &mut Option<NamespaceWatch>) -> Vec<String> {
    match watch {
        Some(w) => w.names().await,
        None => std::future::pending().await,
    }
}
