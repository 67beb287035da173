//! Under load, a redirect's click is made durable in a local journal rather than
//! by its batch's commit. The journal appends every click that queued up while
//! its last append was syncing, syncs them with one `fdatasync`, answers their
//! redirects and hands the clicks to the writer's lanes, which store them in large
//! batches: far fewer statements and commits per click than a batch per commit
//! cycle. A journal file (a segment) is taken again once every click in it is
//! stored (or deleted, when enough wait to be taken): writing and syncing a new
//! segment's zeros, and trimming a deleted one's blocks, held up the appends'
//! syncs. A segment starts with a header naming its tag, and each of its lines
//! carries that tag: a segment taken again gets a new tag, so the lines of its
//! last use are never read as its own. A segment with clicks the database could
//! not take goes to the spool's replay, and so do the segments a stopped server
//! left. Clicks carry their own ids and are stored `ON CONFLICT DO NOTHING`, so
//! each counts once whichever way it came.

use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

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
/// A segment's size, zeroed before its first append (about 50,000 clicks).
const SEGMENT_BYTES: u64 = 16 << 20;

/// Stored segments kept to be taken again, their last lines made stale.
const SEGMENTS_KEPT: usize = 2;
/// Each line's tag: 16 hexadecimal digits and a space.
const TAG_BYTES: usize = 17;
/// A segment's header, `{"journal":"<tag>"}` and a newline.
const HEADER_BYTES: u64 = 31;

/// The least time between two syncs.
const SYNC_EVERY: Duration = Duration::from_millis(1);
/// Appends syncing at once (a thread each): the next is written while the last syncs.
const APPENDS_IN_FLIGHT: usize = 2;

type Append = (NewClick, oneshot::Sender<bool>);

/// Where a journaled click's lane reports what became of it.
pub(super) struct Segment {
    path: PathBuf,
    file: std::fs::File,
    /// What its header names and each line of this use starts with.
    tag: [u8; 16],
    /// Where it goes once its clicks are stored.
    kept: Arc<KeptSegments>,
    /// A write to it failed: not taken again.
    damaged: AtomicBool,
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
        } else if !self.damaged.load(Ordering::SeqCst) && self.kept.has_room() {
            self.file
                .try_clone()
                .map(|file| self.kept.keep(self.path.clone(), file))
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
    /// Set once: the threads append what queued, then stop.
    closing: watch::Sender<bool>,
    dir: PathBuf,
}

impl ClickJournal {
    /// Opens the journal in `dir` (the spool's), first handing the segments a
    /// stopped server left to the spool's replay; journaled clicks go on to `lanes`.
    pub(super) fn start(dir: &Path, lanes: mpsc::Sender<Job>, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if is_segment(&entry) {
                std::fs::rename(entry.path(), spool::replay_path(dir))?;
            }
        }
        let (queue, appends) = mpsc::channel(QUEUE_CAPACITY);
        let (closing, close) = watch::channel(false);
        let kept = Arc::new(KeptSegments::default());
        // The first segment is zeroed ahead too: the first burst does not wait for it.
        let files = Segments {
            dir: dir.to_path_buf(),
            current: None,
            spare: Some(zero_ahead(dir.to_path_buf(), kept.clone())),
            kept,
        };
        let writers = Arc::new(Writers {
            next: Mutex::new((appends, Instant::now(), close)),
            files: Mutex::new(files),
            running: AtomicUsize::new(APPENDS_IN_FLIGHT),
            write_failed: AtomicBool::new(false),
            lanes,
            metrics,
        });
        for _ in 0..APPENDS_IN_FLIGHT {
            let writers = writers.clone();
            std::thread::Builder::new()
                .name("click-journal".into())
                .spawn(move || writers.run())?;
        }
        Ok(ClickJournal {
            queue,
            closing,
            dir: dir.to_path_buf(),
        })
    }

    /// Stops taking clicks (a redirect from then on waits for its commit), appends
    /// what queued, and waits at most `within` for every segment's clicks to be
    /// stored and its file removed: a stopped server leaves only clicks not yet
    /// stored, for the next start to replay.
    pub(super) async fn close(&self, within: Duration) {
        self.closing.send_replace(true);
        let deadline = Instant::now() + within;
        while self.has_segments() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn has_segments(&self) -> bool {
        std::fs::read_dir(&self.dir).is_ok_and(|entries| entries.flatten().any(|entry| is_segment(&entry)))
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

/// The journal's threads: each takes what queued since the last append began,
/// writes and syncs it, answers its redirects and hands its clicks to the lanes.
/// On threads of their own, a sync's end answers at once, whatever the runtime's
/// workers are busy with.
struct Writers {
    /// Held by the thread gathering the next append, with when the last began and
    /// whether the journal is closing.
    next: Mutex<(mpsc::Receiver<Append>, Instant, watch::Receiver<bool>)>,
    files: Mutex<Segments>,
    /// Threads not yet stopped: the last one out closes the files.
    running: AtomicUsize,
    write_failed: AtomicBool,
    lanes: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

impl Writers {
    fn run(&self) {
        let waiting = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime to wait for clicks on");
        while let Some((group, lines)) = self.gather(&waiting) {
            self.append(group, lines);
        }
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.files.lock().expect("never poisoned").stop();
        }
    }

    /// The next group of clicks and their lines, once `SYNC_EVERY` has passed since
    /// the last append began; None once the journal is dropped or closed and
    /// what queued before is appended.
    fn gather(&self, waiting: &tokio::runtime::Runtime) -> Option<(Vec<Append>, Vec<u8>)> {
        let mut next = self.next.lock().expect("never poisoned");
        let (appends, last_began, closing) = &mut *next;
        loop {
            // One sync per `SYNC_EVERY` at most: each costs the machine as much as many clicks.
            std::thread::sleep(SYNC_EVERY.saturating_sub(last_began.elapsed()));
            let mut group = Vec::new();
            let received = waiting.block_on(async {
                tokio::select! {
                    biased;
                    // Closed: no more clicks come in, and what queued is still received.
                    _ = closing.wait_for(|closing| *closing), if !appends.is_closed() => None,
                    received = tokio::time::timeout(SEGMENT_LIFETIME, appends.recv_many(&mut group, MAX_APPEND)) => {
                        Some(received)
                    }
                }
            });
            match received {
                None => {
                    appends.close();
                    continue;
                }
                Some(Ok(0)) => return None,
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    // Idle: its clicks are stored by now, or soon.
                    self.files.lock().expect("never poisoned").close_current();
                    continue;
                }
            }
            *last_began = Instant::now();
            // Each line's tag is written once its segment is known (`tag_lines`).
            let mut lines = Vec::with_capacity(group.len() * 340);
            for (click, _) in &group {
                lines.extend_from_slice(&[b' '; TAG_BYTES]);
                serde_json::to_writer(&mut lines, click).expect("a click serialises");
                lines.push(b'\n');
            }
            return Some((group, lines));
        }
    }

    fn append(&self, group: Vec<Append>, mut lines: Vec<u8>) {
        let started = Instant::now();
        let room = {
            let mut files = self.files.lock().expect("never poisoned");
            if self.write_failed.swap(false, Ordering::SeqCst) {
                // What it holds past the last good append was never answered.
                files.close_current();
            }
            files.room_for(lines.len() as u64, group.len())
        };
        let (segment, offset) = match room {
            Ok(room) => room,
            Err(error) => {
                tracing::error!(%error, "cannot open a click journal segment");
                refuse(group);
                return;
            }
        };
        tag_lines(&mut lines, &segment.tag);
        // Over bytes written before: the sync has no file size or block map to journal.
        let synced = segment
            .file
            .write_all_at(&lines, offset)
            .and_then(|()| segment.file.sync_data());
        self.metrics
            .click_journal_sync_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = synced {
            tracing::error!(%error, "cannot write the click journal");
            segment.damaged.store(true, Ordering::SeqCst);
            self.write_failed.store(true, Ordering::SeqCst);
            // Not answered as journaled: their redirects wait for their commit instead.
            for _ in 0..group.len() {
                segment.settle(true);
            }
            refuse(group);
            return;
        }
        let mut clicks = Vec::with_capacity(group.len());
        for (click, done) in group {
            let _ = done.send(true);
            clicks.push(click);
        }
        for click in clicks {
            if self
                .lanes
                .blocking_send((click, Waiting::Journaled(segment.clone())))
                .is_err()
            {
                segment.settle(false);
            }
        }
    }
}

/// The journal's files: the one taking appends, the stored ones kept to be taken
/// again, and a new one zeroed ahead for when none is kept.
struct Segments {
    dir: PathBuf,
    /// The segment, when it was opened, and how far it is written.
    current: Option<(Arc<Segment>, Instant, u64)>,
    kept: Arc<KeptSegments>,
    spare: Option<std::thread::JoinHandle<std::io::Result<Segment>>>,
}

impl Segments {
    /// The segment and offset where `bytes` more go (for `clicks` more clicks),
    /// moving to the next segment when the current one is full or old. The clicks
    /// are counted in the segment here, under the lock: a segment closed by the
    /// other thread's next append cannot be finished before they are stored.
    fn room_for(&mut self, bytes: u64, clicks: usize) -> std::io::Result<(Arc<Segment>, u64)> {
        let fits = |(_, opened, written): &(Arc<Segment>, Instant, u64)| {
            written + bytes <= SEGMENT_BYTES && opened.elapsed() < SEGMENT_LIFETIME
        };
        if !self.current.as_ref().is_some_and(fits) {
            self.close_current();
            let next = match self.kept.take() {
                Some(kept) => kept,
                None => {
                    let spare = match self.spare.take() {
                        Some(spare) => spare
                            .join()
                            .unwrap_or_else(|_| Err(std::io::Error::other("zeroing a journal segment panicked"))),
                        None => new_segment(&self.dir, bytes, self.kept.clone()),
                    }?;
                    self.spare = Some(zero_ahead(self.dir.clone(), self.kept.clone()));
                    spare
                }
            };
            self.current = Some((Arc::new(next), Instant::now(), HEADER_BYTES));
        }
        let (segment, _, written) = self.current.as_mut().expect("opened above");
        let offset = *written;
        *written += bytes;
        segment.unstored.fetch_add(clicks, Ordering::SeqCst);
        Ok((segment.clone(), offset))
    }

    /// Closes the current segment and removes the spare and the kept ones: a
    /// stopped server leaves only clicks not yet stored.
    fn stop(&mut self) {
        self.kept.stop();
        self.close_current();
        let Some(spare) = self.spare.take() else { return };
        if let Ok(Ok(spare)) = spare.join() {
            remove_segment(&spare.path);
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

/// The next segment, zeroed on a thread of its own while the current one fills.
fn zero_ahead(dir: PathBuf, kept: Arc<KeptSegments>) -> std::thread::JoinHandle<std::io::Result<Segment>> {
    std::thread::spawn(move || new_segment(&dir, 0, kept))
}

/// A new segment of zeros, at least `bytes` long after its header, its name
/// synced into the directory so that a crash cannot lose it. Replay skips its
/// zeros as a torn line.
fn new_segment(dir: &Path, bytes: u64, kept: Arc<KeptSegments>) -> std::io::Result<Segment> {
    let path = dir.join(format!("{SEGMENT_PREFIX}{}.jsonl", uuid::Uuid::now_v7()));
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let zeros = vec![0; 1 << 20];
    for _ in 0..SEGMENT_BYTES.max(HEADER_BYTES + bytes).div_ceil(zeros.len() as u64) {
        file.write_all(&zeros)?;
    }
    let tag = write_header(&file)?;
    file.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Segment::new(path, file, tag, kept))
}

impl Segment {
    fn new(path: PathBuf, file: std::fs::File, tag: [u8; 16], kept: Arc<KeptSegments>) -> Self {
        Segment {
            path,
            file,
            tag,
            kept,
            damaged: AtomicBool::new(false),
            unstored: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            replay: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }
}

/// Stored segments waiting to be taken again, each with a new tag.
#[derive(Default)]
struct KeptSegments {
    ready: Mutex<Vec<Segment>>,
    /// The journal stopped: stored segments are deleted.
    stopped: AtomicBool,
}

impl KeptSegments {
    fn has_room(&self) -> bool {
        !self.stopped.load(Ordering::SeqCst) && self.ready.lock().expect("never poisoned").len() < SEGMENTS_KEPT
    }

    /// Gives the stored segment at `path` a new tag (its lines are stale from then
    /// on, even if a crash came before it is taken again) and keeps it; on a
    /// thread of its own, as the caller may be a runtime's worker.
    fn keep(self: &Arc<Self>, path: PathBuf, file: std::fs::File) {
        let kept = self.clone();
        std::thread::spawn(move || {
            let tagged = write_header(&file).and_then(|tag| file.sync_data().map(|()| tag));
            let mut ready = kept.ready.lock().expect("never poisoned");
            match tagged {
                Ok(tag) if ready.len() < SEGMENTS_KEPT && !kept.stopped.load(Ordering::SeqCst) => {
                    ready.push(Segment::new(path, file, tag, kept.clone()));
                }
                tagged => {
                    if let Err(error) = tagged {
                        tracing::warn!(%error, file = %path.display(), "cannot keep a journal segment; deleting it");
                    }
                    drop(ready);
                    remove_segment(&path);
                }
            }
        });
    }

    fn take(&self) -> Option<Segment> {
        self.ready.lock().expect("never poisoned").pop()
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for segment in self.ready.lock().expect("never poisoned").drain(..) {
            remove_segment(&segment.path);
        }
    }
}

fn is_segment(entry: &std::fs::DirEntry) -> bool {
    entry
        .file_name()
        .to_str()
        .is_some_and(|name| name.starts_with(SEGMENT_PREFIX))
}

fn remove_segment(path: &Path) {
    if let Err(error) = std::fs::remove_file(path) {
        tracing::warn!(%error, file = %path.display(), "cannot remove a journal segment");
    }
}

/// Writes a header with a new tag at the start of `file`; returns the tag.
fn write_header(file: &std::fs::File) -> std::io::Result<[u8; 16]> {
    let mut tag = [0; 16];
    let hex = format!("{:016x}", rand::random::<u64>());
    tag.copy_from_slice(hex.as_bytes());
    let header = format!("{{\"journal\":\"{hex}\"}}\n");
    debug_assert_eq!(header.len() as u64, HEADER_BYTES);
    file.write_all_at(header.as_bytes(), 0)?;
    Ok(tag)
}

/// Starts each line of `lines` (each with `TAG_BYTES` left for it) with `tag`.
fn tag_lines(lines: &mut [u8], tag: &[u8; 16]) {
    let mut start = 0;
    while start < lines.len() {
        lines[start..start + tag.len()].copy_from_slice(tag);
        start += lines[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(lines.len(), |end| end + 1);
    }
}

/// The lines of a journal segment that are its own, without their tags: those
/// carrying the tag its header names. None when `first` is no header (a spool
/// file, or a segment of a server from before tags).
pub(super) fn own_lines<'a>(first: &[u8], rest: impl Iterator<Item = &'a [u8]>) -> Option<Vec<&'a [u8]>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Header {
        journal: String,
    }
    let header: Header = serde_json::from_slice(first).ok()?;
    let tag = header.journal.into_bytes();
    Some(
        rest.filter_map(|line| line.strip_prefix(tag.as_slice())?.strip_prefix(b" "))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::ids::{BrandId, MembershipId};

    fn click(agent: &str) -> NewClick {
        NewClick {
            brand_id: BrandId(1),
            membership_id: MembershipId(2),
            id: uuid::Uuid::now_v7(),
            clicked_at: chrono::Utc::now(),
            ip_hash: None,
            user_agent: agent.to_string(),
            is_bot: false,
        }
    }

    /// The lines an append writes for `clicks` in a segment tagged `tag`.
    fn lines(clicks: &[NewClick], tag: &[u8; 16]) -> Vec<u8> {
        let mut lines = Vec::new();
        for click in clicks {
            lines.extend_from_slice(&[b' '; TAG_BYTES]);
            serde_json::to_writer(&mut lines, click).unwrap();
            lines.push(b'\n');
        }
        tag_lines(&mut lines, tag);
        lines
    }

    fn ids(clicks: &[NewClick]) -> Vec<uuid::Uuid> {
        clicks.iter().map(|click| click.id).collect()
    }

    #[test]
    fn a_segment_taken_again_never_reads_the_lines_of_its_last_use_as_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Arc::new(KeptSegments::default());
        let segment = new_segment(dir.path(), 0, kept.clone()).unwrap();
        let first_use = [click("first"), click("second"), click("third")];
        segment
            .file
            .write_all_at(&lines(&first_use, &segment.tag), HEADER_BYTES)
            .unwrap();
        assert_eq!(ids(&spool::read_clicks(&segment.path).unwrap()), ids(&first_use));

        // Every click stored: kept with a new tag, its last use stale at once
        // (a crash from here on replays none of it).
        kept.keep(segment.path.clone(), segment.file.try_clone().unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        let taken = loop {
            if let Some(taken) = kept.take() {
                break taken;
            }
            assert!(Instant::now() < deadline, "the segment was never kept");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(taken.path, segment.path);
        assert_ne!(taken.tag, segment.tag);
        assert!(spool::read_clicks(&taken.path).unwrap().is_empty());

        // Its next use reads as only what it appended, with the last use's lines past it.
        let next_use = [click("fourth")];
        taken
            .file
            .write_all_at(&lines(&next_use, &taken.tag), HEADER_BYTES)
            .unwrap();
        assert_eq!(ids(&spool::read_clicks(&taken.path).unwrap()), ids(&next_use));
        let text = std::fs::read_to_string(&taken.path).unwrap();
        assert!(text.contains("third"), "the last use's lines are still there, unread");
    }

    #[test]
    fn a_spool_file_and_a_segment_from_before_tags_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clicks.jsonl");
        let clicks = [click("first"), click("second")];
        let mut text = Vec::new();
        for click in &clicks {
            serde_json::to_writer(&mut text, click).unwrap();
            text.push(b'\n');
        }
        text.resize(text.len() + 4096, 0);
        std::fs::write(&path, text).unwrap();
        assert_eq!(ids(&spool::read_clicks(&path).unwrap()), ids(&clicks));
    }
}
