//! A durable local spool for clicks the database could not take in time. A
//! redirect whose batch has not committed by its deadline appends its click here
//! and syncs it to disk before answering; a replay task stores the spooled clicks
//! once the database answers again. Clicks carry their own ids and are stored
//! with `ON CONFLICT DO NOTHING`, so a click both spooled and later committed by
//! its batch is counted once.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::db::clicks::NewClick;

/// Clicks are appended here; replay renames it first so appends carry on in a fresh file.
const CURRENT: &str = "clicks.jsonl";
/// Locked by the server using the directory, for as long as it runs.
const CLAIM: &str = "server.lock";
const REPLAY_PREFIX: &str = "replay-";
/// The spool stops taking clicks past this size (the disk is not infinite either).
const MAX_SPOOL_BYTES: u64 = 1 << 30;

/// A spool directory held by this process. Its journal and spool files are one
/// server's own: a server starting replays every journal segment it finds there
/// as a stopped server's, so two live servers sharing one would take each other's.
pub struct SpoolClaim {
    _lock: std::fs::File,
}

/// Claims `dir` (creating it) for this process until the claim is dropped; an
/// error when another process holds it.
pub fn claim(dir: &Path) -> std::io::Result<SpoolClaim> {
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(CLAIM))?;
    match lock.try_lock() {
        Ok(()) => Ok(SpoolClaim { _lock: lock }),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::ResourceBusy,
            "another server is using it; give each server its own --spool-dir",
        )),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

pub struct ClickSpool {
    dir: PathBuf,
    current: Mutex<Option<tokio::fs::File>>,
}

impl ClickSpool {
    /// Opens (and creates) the spool directory.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ClickSpool {
            dir: dir.to_path_buf(),
            current: Mutex::new(None),
        })
    }

    /// The spool's directory (the click journal's too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spooled_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Appends a click and syncs it to disk; true once it is durable.
    pub async fn append(&self, click: &NewClick) -> bool {
        let Ok(mut line) = serde_json::to_vec(click) else {
            return false;
        };
        line.push(b'\n');
        let mut current = self.current.lock().await;
        if current.is_none() {
            if self.spooled_bytes() > MAX_SPOOL_BYTES {
                tracing::error!(dir = %self.dir.display(), "click spool is full");
                return false;
            }
            let opened = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(CURRENT))
                .await;
            match opened {
                Ok(file) => *current = Some(file),
                Err(error) => {
                    tracing::error!(%error, "cannot open the click spool");
                    return false;
                }
            }
        }
        let file = current.as_mut().expect("opened above");
        let written = async {
            file.write_all(&line).await?;
            file.sync_data().await
        };
        match written.await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "cannot write the click spool");
                // Reopened next time, so one failure does not stick.
                *current = None;
                false
            }
        }
    }

    /// Closes the current file for replay and lists every file waiting to be
    /// replayed, oldest first (files of a previous run included).
    pub async fn take_for_replay(&self) -> Vec<PathBuf> {
        {
            let mut current = self.current.lock().await;
            *current = None;
            let path = self.dir.join(CURRENT);
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
                && let Err(error) = std::fs::rename(&path, replay_path(&self.dir))
            {
                tracing::error!(%error, "cannot rotate the click spool");
            }
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(REPLAY_PREFIX))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // UUIDv7 names sort by time.
        files.sort();
        files
    }
}

/// A new name in `dir` for a file of clicks to replay (UUIDv7 names sort by time).
pub(super) fn replay_path(dir: &Path) -> PathBuf {
    dir.join(format!("{REPLAY_PREFIX}{}.jsonl", uuid::Uuid::now_v7()))
}

/// The clicks of a spool file or a journal segment; a torn last line (a crash
/// mid-write, whose redirect never answered) is skipped, and so are the lines a
/// journal segment kept from its last use (see `journal`).
pub fn read_clicks(path: &Path) -> std::io::Result<Vec<NewClick>> {
    let text = std::fs::read(path)?;
    let mut lines = text
        .split(|b| *b == b'\n')
        // A journal's zeros (never written, or past a failed append) are no line.
        .map(|line| &line[line.iter().position(|b| *b != 0).unwrap_or(line.len())..])
        .filter(|line| !line.is_empty())
        .peekable();
    let own = match lines.peek() {
        Some(first) => super::journal::own_lines(first, lines.clone().skip(1)),
        None => None,
    };
    let clicks = match own {
        Some(own) => own
            .into_iter()
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect(),
        None => lines.filter_map(|line| serde_json::from_slice(line).ok()).collect(),
    };
    Ok(clicks)
}
