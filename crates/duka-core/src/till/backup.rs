//! Backups on the Till service: taken when asked (a manager), once a day on the shop's till
//! (at its start when the newest is older than a day, then checked every half hour while it
//! runs), and when a manager asks for the day close.
//!
//! The day close is a report (`Till::day_close` writes nothing); there is no separate "close
//! the day" write. So the manager asking for it is the moment: a backup is taken then unless
//! one was taken in the last hour, so looking at the day close again and again makes no pile
//! of copies. It runs off the caller's thread where there is a runtime (the desktop), and
//! inline in the CLI, whose process would otherwise end before it is written.
//!
//! A backup that fails (the folder gone, the disk full) is logged, kept in the status (the
//! status bar shows it through `Health::backup`) and announced as `CoreEvent::Backup`; it
//! never fails the cashier's or the manager's operation that triggered it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Till;
use crate::backup::{self, Access, BackupFile, BackupStatus, Backups, Restored};
use crate::config::Mode;
use crate::engine::CoreEvent;
use crate::error::{Error, Result};
use crate::time::now_ms;

/// A shop's till is backed up when its newest backup is older than this.
pub const DAILY: Duration = Duration::from_secs(24 * 3600);
/// The day close takes a backup unless one is younger than this.
pub const AT_DAY_CLOSE: Duration = Duration::from_secs(3600);
/// How often a running till looks whether the daily backup is due.
pub const CHECK_EVERY: Duration = Duration::from_secs(30 * 60);

/// The folder backups go to when `backup_dir` is not set: `backups/` beside the database
/// (`<data dir>/backups` for the shop, `<data dir>/demo/backups` for demo mode).
pub fn default_dir(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("backups")
}

/// The backup status and the daily task of one till.
#[derive(Default)]
pub(super) struct BackupState {
    status: Arc<Mutex<BackupStatus>>,
    task: Mutex<Option<AbortOnDrop>>,
}

impl BackupState {
    pub(super) fn new(dir: &Path, automatic: bool) -> BackupState {
        BackupState {
            status: Arc::new(Mutex::new(BackupStatus {
                dir: dir.display().to_string(),
                automatic,
                ..BackupStatus::default()
            })),
            task: Mutex::new(None),
        }
    }

    pub(super) fn stop(&self) {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The daily task stops when its till stops or goes away.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Publish = Arc<dyn Fn(CoreEvent) + Send + Sync>;

/// Everything a backup of this till needs, free of the till (for a background thread).
#[derive(Clone)]
struct Plan {
    db: PathBuf,
    dir: PathBuf,
    prefix: &'static str,
    keep: usize,
    status: Arc<Mutex<BackupStatus>>,
    publish: Publish,
}

impl Plan {
    fn status(&self) -> std::sync::MutexGuard<'_, BackupStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a backup now and records how it went.
    fn run(&self, why: &str) -> Result<BackupFile> {
        let made = backup::create(&self.db, &self.dir, self.prefix, self.keep, now_ms());
        let status = {
            let mut s = self.status();
            match &made {
                Ok(f) => {
                    tracing::info!(file = %f.path, size = f.size, "backup ({why}) written");
                    s.last_ok = Some(f.at);
                    s.last_file = Some(f.path.clone());
                    s.last_error = None;
                }
                Err(e) => {
                    tracing::warn!("the backup ({why}) to {} failed: {e}", self.dir.display());
                    s.last_error = Some((now_ms(), e.to_string()));
                }
            }
            s.clone()
        };
        (self.publish)(CoreEvent::Backup { status });
        made
    }

    /// This till's backups in the folder, newest first; the status learns of the newest.
    fn list(&self) -> Result<Vec<BackupFile>> {
        let files = backup::list(&self.dir, self.prefix)?;
        if let Some(newest) = files.first() {
            let mut s = self.status();
            if s.last_ok.is_none_or(|t| t < newest.at) {
                s.last_ok = Some(newest.at);
                s.last_file = Some(newest.path.clone());
            }
        }
        Ok(files)
    }

    /// Whether the newest backup is older than `max_age` (or there is none, or the folder
    /// cannot be read: the backup then says why).
    fn due(&self, max_age: Duration) -> bool {
        match self.list() {
            // A newest backup dated in the future (the clock was set back) is no reason to
            // stop backing up.
            Ok(files) => files.first().is_none_or(|f| {
                let age = now_ms().saturating_sub(f.at);
                age < 0 || age >= max_age.as_millis() as i64
            }),
            Err(_) => true,
        }
    }

    /// Takes a backup when the newest is older than `max_age`.
    fn if_due(&self, max_age: Duration, why: &str) {
        if self.due(max_age) {
            let _ = self.run(why);
        }
    }
}

impl Till {
    /// Where this till's backups go: the `backup_dir` setting, else `backups/` beside its
    /// database.
    pub fn backup_dir(&self) -> PathBuf {
        match &self.settings.backup_dir {
            Some(d) => PathBuf::from(d),
            None => default_dir(&self.db_path()),
        }
    }

    fn backup_plan(&self) -> Plan {
        Plan {
            db: self.db_path(),
            dir: self.backup_dir(),
            prefix: match self.mode {
                Mode::Shop => backup::SHOP_PREFIX,
                Mode::Demo => backup::DEMO_PREFIX,
            },
            keep: self.settings.backup_keep.clamp(1, 365) as usize,
            status: self.backups.status.clone(),
            publish: self.publisher(),
        }
    }

    /// Takes a backup now (a manager); returns the file written.
    pub fn backup_now(&self, who: &str) -> Result<BackupFile> {
        self.manager(who, "a backup")?;
        self.backup_plan().run("asked for")
    }

    /// This till's backups, newest first, with how many are kept and how backups are going
    /// (a manager).
    pub fn backups(&self, who: &str) -> Result<Backups> {
        self.manager(who, "the list of backups")?;
        let plan = self.backup_plan();
        let files = plan.list()?;
        Ok(Backups {
            keep: plan.keep as i64,
            files,
            status: self.backup_status(),
        })
    }

    /// How this till's backups are going.
    pub fn backup_status(&self) -> BackupStatus {
        self.backups
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks, changing nothing, that `file` can be restored here; returns its schema version.
    pub fn check_backup(&self, file: &Path) -> Result<i64> {
        backup::check(file)
    }

    /// Replaces this till's database with the backup `file` (a manager). Refused, with nothing
    /// changed, for a file that is not a Duka database or is newer than this Duka, and while
    /// M-Pesa answers wait in memory for disk space. Otherwise the till **stops** (engine,
    /// relay, daily backups), the database is kept aside and replaced, then opened and
    /// migrated: the shell starts the till again on it (`duka_app::open_till`), and whoever was
    /// signed in signs in again, since the staff are the backup's.
    pub fn restore_backup(&self, file: &Path, who: &str) -> Result<Restored> {
        self.manager(who, "restoring a backup")?;
        backup::check(file)?;
        // Demo mode's manager PIN is public: it restores only demo mode's own backups, never
        // the shop's database or one of its backups.
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let demo_backup = name
            .as_deref()
            .and_then(|n| backup::parse_name(n, backup::DEMO_PREFIX))
            .is_some();
        if self.mode == Mode::Demo && !demo_backup {
            return Err(Error::Denied(format!(
                "demo mode restores only its own backups (duka-demo-…), not {}",
                file.display()
            )));
        }
        // The restored file's environment, Daraja URL and relay are not trusted: the shop's
        // stored credentials go only where this till already sends them.
        let keep: Vec<(&str, Option<String>)> = ["environment", "daraja_base_url", "relay_url"]
            .into_iter()
            .map(|k| Ok((k, self.store().setting(k)?)))
            .collect::<Result<_>>()?;
        let unsaved = self.unsaved_answers();
        if unsaved > 0 {
            return Err(Error::Conflict(format!(
                "{unsaved} M-Pesa answer(s) are waiting for disk space to be saved: free space \
                 on the till's disk first, then restore; nothing was changed"
            )));
        }
        // A prompt still on a customer's phone would be answered into neither database.
        let open = self.store().attempts(true, 1)?;
        if let Some(a) = open.first() {
            return Err(Error::Conflict(format!(
                "an M-Pesa request for sale {} is still open: wait for its answer (or settle it), then restore; nothing was changed",
                a.sale_id
            )));
        }
        self.stop();
        let restored = backup::restore(&self.db_path(), file, Access::Shared, now_ms())?;
        let mut store = crate::Store::open(&self.db_path())?;
        let values: Vec<(&str, Option<&str>)> =
            keep.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        store.set_settings(&values)?;
        Ok(restored)
    }

    /// Starts the daily backups of the shop's till (demo mode backs up only when asked): at
    /// once when the newest backup is older than a day, then every `CHECK_EVERY`. Needs a
    /// tokio runtime; stops with the till.
    pub fn start_backups(&self) {
        if self.mode != Mode::Shop || !self.db_path().is_file() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let plan = self.backup_plan();
        let task = rt.spawn(async move {
            loop {
                let p = plan.clone();
                let _ = tokio::task::spawn_blocking(move || p.if_due(DAILY, "daily")).await;
                tokio::time::sleep(CHECK_EVERY).await;
            }
        });
        *self.backups.task.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(AbortOnDrop(task.abort_handle()));
    }

    /// A manager asked for the day close: the shop's till is backed up unless a backup is
    /// younger than an hour. Never fails the day close.
    pub(super) fn backup_at_day_close(&self) {
        if self.mode != Mode::Shop {
            return;
        }
        let plan = self.backup_plan();
        let work = move || plan.if_due(AT_DAY_CLOSE, "day close");
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(work);
            }
            Err(_) => work(),
        }
    }

    /// Sends events as this till does, from any thread.
    fn publisher(&self) -> Publish {
        match &self.core {
            super::Core::Offline { events, .. } => {
                let tx = events.clone();
                Arc::new(move |e| {
                    let _ = tx.send(e);
                })
            }
            super::Core::Running { engine, .. } => {
                let engine = engine.clone();
                Arc::new(move |e| engine.publish(e))
            }
        }
    }
}
