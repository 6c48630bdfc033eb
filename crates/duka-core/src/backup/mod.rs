//! Backups of a till's database, and putting one back.
//!
//! A backup is a copy made with SQLite's online backup API from a connection of its own: one
//! read transaction copies every page, so the copy is the database as it was at one instant
//! even while the till goes on selling (in WAL mode a reader never blocks the cashier's
//! writes, and the cashier's store is not locked meanwhile). It is written under a temporary
//! name, checked (`PRAGMA quick_check`), synced, and only then renamed to
//! `duka-2026-12-03T101500.db` (Nairobi time; demo mode's are `duka-demo-…`), so a file with a
//! backup's name is always whole. Each backup is a single file (rollback journal, no `-wal`).
//! Only after it is complete are the oldest beyond the number to keep deleted; files in the
//! folder that do not carry a backup's name are never touched.
//!
//! A restore refuses, changing nothing, a file that is not a Duka database, is damaged, or was
//! written by a newer Duka. It keeps the current database aside first
//! (`duka.db.before-restore-2026-12-03T101500`, itself a backup), then copies the file into
//! the database with the same backup API (one write transaction: all of it or nothing), and
//! opens it with [`Store::open`], which migrates a backup of an older schema.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION, Store, check_header};
use crate::time::Millis;

/// The start of the shop's backups' names: `duka-2026-12-03T101500.db`.
pub const SHOP_PREFIX: &str = "duka-";
/// The start of demo mode's backups' names (never mistaken for, nor pruned with, the shop's).
pub const DEMO_PREFIX: &str = "duka-demo-";

/// The time in a backup's name: Nairobi, to the second.
const STAMP: &str = "%Y-%m-%dT%H%M%S";

/// One backup in the backup folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct BackupFile {
    /// The file's full path (what a restore takes).
    pub path: String,
    /// Its name, e.g. `duka-2026-12-03T101500.db`.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was taken (from its name), UTC milliseconds.
    pub at: Millis,
    /// The schema version it holds; `None` when its header is not a Duka database's (a file
    /// damaged on the stick).
    pub schema_version: Option<i64>,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Restored {
    /// The database that was replaced.
    pub database: String,
    /// The backup it now holds.
    pub from: String,
    /// Where the database as it was before is kept (`None`: there was none yet).
    pub kept_aside: Option<String>,
    /// The backup's schema version, and the database's after it was opened (migrated when the
    /// backup was older).
    pub backup_schema_version: i64,
    pub schema_version: i64,
}

/// How a till's backups are going (the status bar shows it; `Health::backup`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct BackupStatus {
    /// Where backups go.
    pub dir: String,
    /// Whether this till backs itself up: the shop's till does, once a day (at its start and
    /// while it runs) and when a manager looks at the day close; demo mode only when asked.
    pub automatic: bool,
    /// When the newest good backup was taken, and its file.
    pub last_ok: Option<Millis>,
    pub last_file: Option<String>,
    /// The last backup that failed (the folder gone, the disk full), when no good one came
    /// after it: when, and why.
    pub last_error: Option<(Millis, String)>,
}

/// A till's backups, for its manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Backups {
    /// How many are kept (setting `backup_keep`).
    pub keep: i64,
    /// Newest first.
    pub files: Vec<BackupFile>,
    pub status: BackupStatus,
}

/// Whether a restore may share the database with connections that are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing else may have it open: the restore holds SQLite's exclusive lock from its check
    /// to its end, and refuses (`conflict`) when another connection (the desktop app, another
    /// `duka`) has the database open. The CLI restores so.
    Exclusive,
    /// The caller's own till has it open and has stopped; the copy is one write transaction
    /// that any connection left open then reads. The desktop restores so.
    Shared,
}

/// The name of a backup taken at `at` (`n` > 1: the n-th taken in the same second).
fn name(prefix: &str, at: Millis, n: u32) -> String {
    let stamp = crate::time::to_nairobi(at).format(STAMP);
    match n {
        0 | 1 => format!("{prefix}{stamp}.db"),
        n => format!("{prefix}{stamp}-{n}.db"),
    }
}

/// When a file of this name was taken, and its number in that second; `None` for a file that
/// is not one of these backups.
pub fn parse_name(file: &str, prefix: &str) -> Option<(Millis, u32)> {
    use chrono::TimeZone;
    let rest = file.strip_prefix(prefix)?.strip_suffix(".db")?;
    let (stamp, n) = match rest.split_at_checked(17)? {
        (stamp, "") => (stamp, 1),
        (stamp, more) => (stamp, more.strip_prefix('-')?.parse().ok()?),
    };
    let local = chrono::NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
    let at = chrono_tz::Africa::Nairobi
        .from_local_datetime(&local)
        .single()?;
    Some((at.timestamp_millis(), n))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The backups of one till in `dir`, newest first. A folder that does not exist holds none.
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<BackupFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        // The shop's prefix is the start of demo mode's: a demo backup is not the shop's.
        if prefix == SHOP_PREFIX && file.starts_with(DEMO_PREFIX) {
            continue;
        }
        let Some((at, n)) = parse_name(&file, prefix) else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) if m.is_file() => m,
            _ => continue,
        };
        let path = entry.path();
        found.push((
            (at, n),
            BackupFile {
                schema_version: header_version(&path),
                path: path.display().to_string(),
                file,
                size: meta.len(),
                at,
            },
        ));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found.into_iter().map(|(_, f)| f).collect())
}

/// The schema version in a file's header (`user_version`, bytes 60..64), when the header is a
/// Duka database's (`application_id`, bytes 68..72). Read without SQLite: listing a folder
/// opens no database.
fn header_version(path: &Path) -> Option<i64> {
    use std::io::Read;
    let mut head = [0u8; 100];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    let word = |at: usize| {
        i64::from(i32::from_be_bytes([
            head[at],
            head[at + 1],
            head[at + 2],
            head[at + 3],
        ]))
    };
    (&head[..16] == b"SQLite format 3\0" && word(68) == APPLICATION_ID).then(|| word(60))
}

/// When the newest backup in `dir` was taken (`None`: none yet).
pub fn newest(dir: &Path, prefix: &str) -> Result<Option<Millis>> {
    Ok(list(dir, prefix)?.first().map(|f| f.at))
}

/// One backup or restore at a time in this process (a double click, the daily task and a day
/// close must not share or delete each other's files).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A temporary file name beside `path` no other run of this process uses.
fn part_name(dir: &Path, base: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".{base}.{}.{n}.part", std::process::id()))
}

/// Only the owner reads a backup: it holds the whole shop, PIN hashes included.
#[cfg(unix)]
fn owner_only(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!("could not make {} private: {e}", path.display());
    }
}

/// On Windows a file inherits its folder's permissions (the user's own data folder).
#[cfg(not(unix))]
fn owner_only(_path: &Path, _mode: u32) {}

/// Takes a backup of the database at `db` into `dir` (made if it is missing, but never the
/// folder it is in: a USB stick that is not plugged in is an error, not a folder on the till's
/// own disk), then keeps the newest `keep` of this till's backups there.
pub fn create(db: &Path, dir: &Path, prefix: &str, keep: usize, now: Millis) -> Result<BackupFile> {
    if !db.is_file() {
        return Err(Error::not_found("database", db.display()));
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    match std::fs::create_dir(dir) {
        Ok(()) => owner_only(dir, 0o700),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    e.kind(),
                    "the backup folder's place does not exist (is the USB stick plugged in?)",
                ),
            });
        }
        Err(e) => return Err(io(dir)(e)),
    }
    let src = open_source(db)?;
    let (path, file) = (1..)
        .map(|n| {
            let file = name(prefix, now, n);
            (dir.join(&file), file)
        })
        .find(|(p, _)| !p.exists())
        .expect("a free name");
    let tmp = part_name(dir, &file);
    if let Err(e) = write_copy(&src, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(src);
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&path)(e)
    })?;
    owner_only(&path, 0o600);
    sync_dir(dir);
    let size = std::fs::metadata(&path).map_err(io(&path))?.len();
    let made = BackupFile {
        schema_version: header_version(&path),
        path: path.display().to_string(),
        file,
        size,
        at: now,
    };
    // The new backup is whole: only now may old ones go. A prune that fails leaves one too
    // many, which the next backup deletes.
    if let Err(e) = prune_keeping(dir, prefix, keep, &path) {
        tracing::warn!("old backups in {} were not deleted: {e}", dir.display());
    }
    Ok(made)
}

/// Deletes this till's backups in `dir` beyond the newest `keep` (at least one is kept);
/// returns the files deleted.
pub fn prune(dir: &Path, prefix: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let mut gone = Vec::new();
    for old in list(dir, prefix)?.into_iter().skip(keep.max(1)) {
        let path = PathBuf::from(&old.path);
        std::fs::remove_file(&path).map_err(io(&path))?;
        gone.push(path);
    }
    Ok(gone)
}

/// `prune`, never deleting `new` (the backup just written: with a clock set back, older
/// backups can carry later names), which counts as one of the `keep`.
fn prune_keeping(dir: &Path, prefix: &str, keep: usize, new: &Path) -> Result<Vec<PathBuf>> {
    let mut gone = Vec::new();
    let others = list(dir, prefix)?
        .into_iter()
        .filter(|f| Path::new(&f.path) != new);
    for old in others.skip(keep.max(1) - 1) {
        let path = PathBuf::from(&old.path);
        std::fs::remove_file(&path).map_err(io(&path))?;
        gone.push(path);
    }
    Ok(gone)
}

/// A connection of its own to the till's database, for reading it whole.
fn open_source(db: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(BUSY_TIMEOUT)?;
    Ok(c)
}

/// Copies the database of `src` whole into a new file at `tmp` with the online backup API, in
/// one read transaction of `src` (the one open on it, if any), then makes the copy a single
/// file (rollback journal), checks it and syncs it to the disk.
pub(crate) fn write_copy(src: &Connection, tmp: &Path) -> Result<()> {
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(tmp)(e)),
    }
    let mut dst = Connection::open(tmp)?;
    dst.busy_timeout(BUSY_TIMEOUT)?;
    copy(src, &mut dst)?;
    let mode: String = dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Config(format!(
            "{}: the copy stayed in journal mode {mode}",
            tmp.display()
        )));
    }
    quick_check(&dst, tmp)?;
    dst.close().map_err(|(_, e)| e)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(tmp))
}

/// Every page of `src`'s main database into `dst`'s, in one step (one transaction on each
/// side), waiting out locks held by others for a while.
fn copy(src: &Connection, dst: &mut Connection) -> Result<()> {
    let backup = Backup::new(src, dst)?;
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT * 2;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ if std::time::Instant::now() > deadline => {
                return Err(Error::Db(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed locked by another connection".into()),
                )));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn quick_check(c: &Connection, path: &Path) -> Result<()> {
    let verdict: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::NotDukaDb {
            path: path.to_path_buf(),
            reason: format!("it is damaged (SQLite's check says: {verdict})"),
        })
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!("syncing {}: {e}", dir.display());
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// Checks, changing nothing, that `file` can be restored: a whole Duka database of a schema
/// this Duka knows. Returns its schema version.
pub fn check(file: &Path) -> Result<i64> {
    let not_duka = |reason: &str| Error::NotDukaDb {
        path: file.to_path_buf(),
        reason: reason.into(),
    };
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found("backup file", file.display()));
        }
        Err(e) => return Err(io(file)(e)),
    };
    if !meta.is_file() {
        return Err(not_duka("it is not a file"));
    }
    if meta.len() == 0 {
        return Err(not_duka("the file is empty"));
    }
    check_header(file)?;
    let c = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| not_duka(&e.to_string()))?;
    let read = |pragma: &str| -> Result<i64> {
        c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .map_err(|e| not_duka(&e.to_string()))
    };
    let app_id = read("application_id")?;
    let version = read("user_version")?;
    if app_id != APPLICATION_ID {
        return Err(not_duka(&format!(
            "application_id is {app_id:#x}, not Duka's: a database of another program"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: file.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        return Err(not_duka("it holds no Duka schema"));
    }
    quick_check(&c, file).map_err(|e| match e {
        Error::Db(e) => not_duka(&e.to_string()),
        e => e,
    })?;
    Ok(version)
}

/// Replaces the database at `db` with the backup `file`: checked first (nothing changes if it
/// is refused), the current database kept aside, the backup copied in whole, then opened (and
/// migrated when it is older). `now` names the file kept aside.
pub fn restore(db: &Path, file: &Path, access: Access, now: Millis) -> Result<Restored> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let backup_schema_version = check(file)?;
    if same_file(db, file) {
        return Err(Error::invalid(
            "file",
            "a backup, not the till's own database",
            file.display().to_string(),
        ));
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut live = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    live.busy_timeout(BUSY_TIMEOUT)?;
    if access == Access::Exclusive {
        take_exclusive(&live, db)?;
    }
    // A database with anything in it (an empty file is given its first page by the lock).
    let tables: i64 = live.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let version: i64 = live.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let kept_aside = if tables > 0 || version != 0 {
        let aside = aside_path(db, now);
        let base = aside.file_name().map(|n| n.to_string_lossy().into_owned());
        let dir = aside.parent().unwrap_or(Path::new("."));
        let tmp = part_name(dir, &base.unwrap_or_default());
        if let Err(e) = write_copy(&live, &tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &aside).map_err(io(&aside))?;
        owner_only(&aside, 0o600);
        if let Some(dir) = aside.parent() {
            sync_dir(dir);
        }
        Some(aside.display().to_string())
    } else {
        None
    };
    let src = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(BUSY_TIMEOUT)?;
    copy(&src, &mut live)?;
    drop(src);
    quick_check(&live, db)?;
    live.close().map_err(|(_, e)| e)?;
    let opened = Store::open(db).and_then(|s| s.schema_version());
    let schema_version = match (opened, &kept_aside) {
        (Ok(v), _) => v,
        // The backup passed its checks but does not open (its tables do not match its
        // version): the database as it was goes back, and the restore is refused.
        (Err(e), Some(aside)) => {
            put_back(db, Path::new(aside))?;
            return Err(Error::Conflict(format!(
                "{} does not open as a Duka database ({e}): the database as it was is back in place",
                file.display()
            )));
        }
        (Err(e), None) => return Err(e),
    };
    Ok(Restored {
        database: db.display().to_string(),
        from: file.display().to_string(),
        kept_aside,
        backup_schema_version,
        schema_version,
    })
}

/// Holds SQLite's exclusive lock on `db` on this connection until it closes, or refuses when
/// another connection has the database open (in WAL mode every open connection holds a shared
/// lock on the file, even between transactions).
fn take_exclusive(live: &Connection, db: &Path) -> Result<()> {
    live.busy_timeout(Duration::from_millis(300))?;
    let _: String = live.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))?;
    match live.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            return Err(Error::Conflict(format!(
                "{} is open in another program (the Duka app or another duka command): close \
                 it, then restore again (or restore from the app's Settings); nothing was changed",
                db.display()
            )));
        }
        Err(e) => return Err(e.into()),
    }
    live.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

/// `duka.db.before-restore-2026-12-03T101500` beside `db` (`-2`, … when taken in one second).
fn aside_path(db: &Path, now: Millis) -> PathBuf {
    let base = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "duka.db".into());
    let stamp = crate::time::to_nairobi(now).format(STAMP).to_string();
    (1..)
        .map(|n| {
            let name = match n {
                1 => format!("{base}.before-restore-{stamp}"),
                n => format!("{base}.before-restore-{stamp}-{n}"),
            };
            db.with_file_name(name)
        })
        .find(|p| !p.exists())
        .expect("a free name")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests;

/// Copies the database kept aside back over `db` (a restore that did not open).
fn put_back(db: &Path, aside: &Path) -> Result<()> {
    let src = Connection::open_with_flags(
        aside,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut live = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    live.busy_timeout(BUSY_TIMEOUT)?;
    copy(&src, &mut live)?;
    quick_check(&live, db)
}
