//! Under load, a redirect's click is made durable in a local journal rather than
//! by its batch's commit. The journal appends every click that queued up while
//! its last append was syncing, syncs them with one `fdatasync`, answers their
//! redirects and hands the clicks to the writer's lanes, which store them in large
//! batches: far fewer statements and commits per click than a batch per commit
//! cycle. A journal file (a segment) is deleted once every click in it is stored;
//! a segment with clicks the database could not take goes to the spool's replay,
//! and so do the segments a stopped server left. Clicks carry their own ids and
//! are stored `ON CONFLICT DO NOTHING`, so each counts once whichever way it came.

use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Job, Waiting, spool};
use crate::db::clicks::NewClick;
use crate::metrics::Metrics;

const SEGMENT_PREFIX: &str = "journal-";
/// The most clicks one append takes.
const MAX_APPEND: usize = 4_000;
/// Redirects waiting for the journal beyond this wait for room.
const QUEUE_CAPACITY: usize = 50_000;
/// A segment takes appends this long at most (or until the journal idles this
/// long), then is left to be deleted once its clicks are stored.
const SEGMENT_LIFETIME: Duration = Duration::from_secs(30);
/// A segment's size, zeroed before its first append (about 60,000 clicks).
const SEGMENT_BYTES: u64 = 16 << 20;

/// The least time between two syncs.
const SYNC_EVERY: Duration = Duration::from_millis(1);
/// Appends syncing at once: the next is written while the last syncs.
const APPENDS_IN_FLIGHT: usize = 2;

type Append = (NewClick, oneshot::Sender<bool>);

/// Where a journaled click's lane reports what became of it.
pub(super) struct Segment {
    path: PathBuf,
    file: std::fs::File,
    /// Clicks appended and not yet settled by the lanes.
    unstored: AtomicUsize,
    /// No more appends: deleted (or replayed) once `unstored` is zero.
    closed: AtomicBool,
    /// Some click in it was not stored: the whole segment goes to the replay.
    replay: AtomicBool,
    finished: AtomicBool,
}

impl Segment {
    /// One of its clicks was stored (or refused for its own data), or, with
    /// `stored` false, could not be stored for now.
    pub(super) fn settle(&self, stored: bool) {
        if !stored {
            self.replay.store(true, Ordering::SeqCst);
        }
        if self.unstored.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            self.finish();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if self.unstored.load(Ordering::SeqCst) == 0 {
            self.finish();
        }
    }

    fn finish(&self) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        let done = if self.replay.load(Ordering::SeqCst) {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::rename(&self.path, spool::replay_path(dir))
        } else {
            std::fs::remove_file(&self.path)
        };
        if let Err(error) = done {
            tracing::error!(%error, file = %self.path.display(), "cannot settle a click journal segment");
        }
    }
}

pub(super) struct ClickJournal {
    queue: mpsc::Sender<Append>,
}

impl ClickJournal {
    /// Opens the journal in `dir` (the spool's), first handing the segments a
    /// stopped server left to the spool's replay; journaled clicks go on to `lanes`.
    pub(super) fn start(dir: &Path, lanes: mpsc::Sender<Job>, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            let is_segment = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(SEGMENT_PREFIX));
            if is_segment {
                std::fs::rename(entry.path(), spool::replay_path(dir))?;
            }
        }
        let (queue, appends) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(dir.to_path_buf(), appends, lanes, metrics));
        Ok(ClickJournal { queue })
    }

    /// Appends a click; true once it is synced to disk (and on its way to a lane).
    pub(super) async fn append(&self, click: NewClick) -> bool {
        let (done, synced) = oneshot::channel();
        if self.queue.send((click, done)).await.is_err() {
            return false;
        }
        synced.await.unwrap_or(false)
    }
}

async fn run(dir: PathBuf, mut appends: mpsc::Receiver<Append>, lanes: mpsc::Sender<Job>, metrics: Arc<Metrics>) {
    // The first segment is zeroed ahead too: the first burst does not wait for it.
    let spare = Some(tokio::spawn(new_segment(dir.clone(), 0)));
    let mut files = Segments {
        dir,
        current: None,
        spare,
    };
    let in_flight = Arc::new(tokio::sync::Semaphore::new(APPENDS_IN_FLIGHT));
    let write_failed = Arc::new(AtomicBool::new(false));
    let mut last_sync = tokio::time::Instant::now();
    loop {
        // One sync per `SYNC_EVERY` at most: each costs the machine as much as many clicks.
        tokio::time::sleep_until(last_sync + SYNC_EVERY).await;
        let permit = in_flight.clone().acquire_owned().await.expect("never closed");
        let mut group = Vec::new();
        match tokio::time::timeout(SEGMENT_LIFETIME, appends.recv_many(&mut group, MAX_APPEND)).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => {
                // Idle: its clicks are stored by now, or soon.
                files.close_current();
                continue;
            }
        }
        last_sync = tokio::time::Instant::now();
        if write_failed.swap(false, Ordering::SeqCst) {
            // What it holds past the last good append was never answered.
            files.close_current();
        }
        let mut lines = Vec::with_capacity(group.len() * 320);
        for (click, _) in &group {
            serde_json::to_writer(&mut lines, click).expect("a click serialises");
            lines.push(b'\n');
        }
        let (segment, offset) = match files.room_for(lines.len() as u64).await {
            Ok(room) => room,
            Err(error) => {
                tracing::error!(%error, dir = %files.dir.display(), "cannot open a click journal segment");
                refuse(group);
                continue;
            }
        };
        // Counted before the segment can be closed, so it outlives this append.
        segment.unstored.fetch_add(group.len(), Ordering::SeqCst);
        let (lanes, metrics, write_failed) = (lanes.clone(), metrics.clone(), write_failed.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let synced = {
                let segment = segment.clone();
                tokio::task::spawn_blocking(move || {
                    // Over zeros written before: the sync has no file size or block map to journal.
                    segment
                        .file
                        .write_all_at(&lines, offset)
                        .and_then(|()| segment.file.sync_data())
                })
                .await
            };
            metrics
                .click_journal_sync_seconds
                .observe(started.elapsed().as_secs_f64());
            drop(permit);
            if let Err(error) = synced.map_err(std::io::Error::other).and_then(|written| written) {
                tracing::error!(%error, "cannot write the click journal");
                write_failed.store(true, Ordering::SeqCst);
                // Not answered as journaled: their redirects wait for their commit instead.
                for _ in 0..group.len() {
                    segment.settle(true);
                }
                refuse(group);
                return;
            }
            for (click, done) in group {
                let _ = done.send(true);
                if lanes.send((click, Waiting::Journaled(segment.clone()))).await.is_err() {
                    segment.settle(false);
                }
            }
        });
    }
    // The appends in flight finish before the segment is closed for good.
    let _ = in_flight.acquire_many(APPENDS_IN_FLIGHT as u32).await;
    files.stop().await;
}

/// The journal's files: the one taking appends, and the next one, zeroed ahead.
struct Segments {
    dir: PathBuf,
    /// The segment, when it was opened, and how far it is written.
    current: Option<(Arc<Segment>, Instant, u64)>,
    spare: Option<tokio::task::JoinHandle<std::io::Result<Segment>>>,
}

impl Segments {
    /// The segment and offset where `bytes` more go, moving to the next segment
    /// when the current one is full or old.
    async fn room_for(&mut self, bytes: u64) -> std::io::Result<(Arc<Segment>, u64)> {
        let fits = |(_, opened, written): &(Arc<Segment>, Instant, u64)| {
            written + bytes <= SEGMENT_BYTES && opened.elapsed() < SEGMENT_LIFETIME
        };
        if !self.current.as_ref().is_some_and(fits) {
            self.close_current();
            let next = match self.spare.take() {
                Some(spare) => spare.await.map_err(std::io::Error::other)?,
                None => new_segment(self.dir.clone(), bytes).await,
            }?;
            self.current = Some((Arc::new(next), Instant::now(), 0));
            self.spare = Some(tokio::spawn(new_segment(self.dir.clone(), 0)));
        }
        let (segment, _, written) = self.current.as_mut().expect("opened above");
        let offset = *written;
        *written += bytes;
        Ok((segment.clone(), offset))
    }

    /// Closes the current segment and removes the spare: a stopped server leaves
    /// only clicks not yet stored.
    async fn stop(mut self) {
        self.close_current();
        let Some(spare) = self.spare.take() else { return };
        if let Ok(Ok(spare)) = spare.await
            && let Err(error) = std::fs::remove_file(&spare.path)
        {
            tracing::warn!(%error, file = %spare.path.display(), "cannot remove the journal's spare segment");
        }
    }

    fn close_current(&mut self) {
        if let Some((segment, _, _)) = self.current.take() {
            segment.close();
        }
    }
}

/// Tells each redirect of the group that its click is not journaled.
fn refuse(group: Vec<Append>) {
    for (_, done) in group {
        let _ = done.send(false);
    }
}

/// A new segment of zeros, at least `bytes` long, its name synced into the
/// directory so that a crash cannot lose it. Replay skips its zeros as a torn line.
async fn new_segment(dir: PathBuf, bytes: u64) -> std::io::Result<Segment> {
    let path = dir.join(format!("{SEGMENT_PREFIX}{}.jsonl", uuid::Uuid::now_v7()));
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)?;
            let zeros = vec![0; 1 << 20];
            for _ in 0..SEGMENT_BYTES.max(bytes).div_ceil(zeros.len() as u64) {
                file.write_all(&zeros)?;
            }
            file.sync_all()?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
    };
    let file = opened.map_err(std::io::Error::other)??;
    Ok(Segment {
        path,
        file,
        unstored: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        replay: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    })
}
