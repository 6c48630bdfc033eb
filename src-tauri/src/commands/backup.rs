//! Backups (managers only): one now, the list, and restoring one. What a backup and a restore
//! do is `duka_core::backup`; the file work runs off the UI thread.

use std::path::PathBuf;

use duka_core::backup::{BackupFile, Backups, Restored};
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result, UiError};

/// What a restore answers: what it did, and that nobody is signed in any more (the staff are
/// the backup's now; the UI goes back to sign-in).
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RestoreDone {
    pub restored: Restored,
    pub signed_out: bool,
}

/// Takes a backup now into the backup folder; returns the file written.
#[tauri::command]
pub async fn backup_now(duka: State<'_, Duka>) -> Result<BackupFile> {
    let manager = duka.manager()?;
    let running = duka.running();
    tauri::async_runtime::spawn_blocking(move || running.backup_now(&manager.name))
        .await
        .map_err(UiError::internal)?
        .map_err(Into::into)
}

/// The backups in the backup folder, newest first, how many are kept, and how backups are
/// going (the last one that failed, and why).
#[tauri::command]
pub async fn backups(duka: State<'_, Duka>) -> Result<Backups> {
    let manager = duka.manager()?;
    let running = duka.running();
    tauri::async_runtime::spawn_blocking(move || running.backups(&manager.name))
        .await
        .map_err(UiError::internal)?
        .map_err(Into::into)
}

/// Replaces the till's database with the backup at `path`. A file that is not a Duka database
/// or is newer than this app is refused first, with nothing changed and the till still
/// running. Otherwise the till stops, the database is kept aside
/// (`duka.db.before-restore-<time>`) and replaced, and the till starts again on the restored
/// one (migrated when older), as after saving settings. Everyone is signed out.
#[tauri::command]
pub async fn restore_backup<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    duka: State<'_, Duka>,
    path: String,
) -> Result<RestoreDone> {
    let manager = duka.manager()?;
    let running = duka.running();
    let file = PathBuf::from(path.trim());
    let till = running.clone();
    let check = file.clone();
    tauri::async_runtime::spawn_blocking(move || till.check_backup(&check))
        .await
        .map_err(UiError::internal)??;
    let till = running.clone();
    let restored =
        tauri::async_runtime::spawn_blocking(move || till.restore_backup(&file, &manager.name))
            .await
            .map_err(UiError::internal)?;
    // From here the old till may have stopped: it starts again whether the restore worked or
    // not (a failed restore leaves the database as it was).
    let started = duka.restart().await;
    if let Ok(r) = &started {
        crate::forward_events(&app, r);
    }
    let restored = restored?;
    duka.sign_out();
    started?;
    Ok(RestoreDone {
        restored,
        signed_out: true,
    })
}

/// What a restore from the relay answers: what came back, and that nobody is signed in (the
/// staff are the old till's, without PINs: the manager sets theirs at sign-in).
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RelayRestoreDone {
    pub restored: duka_core::relay::RestoreSummary,
    pub signed_out: bool,
}

/// A new PC paired as the till it replaces takes that till's history back from the relay
/// (managers). Refused, with nothing changed and the till still running, when this till has
/// sales of its own, an M-Pesa request is open, or it is not paired. Otherwise the till stops,
/// the records are written, and it starts again on them.
#[tauri::command]
pub async fn restore_from_relay<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    duka: State<'_, Duka>,
) -> Result<RelayRestoreDone> {
    let manager = duka.manager()?;
    let running = duka.running();
    let Some(pairing) = duka_app::till_pairing(&running, duka.secrets.as_ref())? else {
        return Err(duka_core::Error::Config(
            "this till is not paired with a relay: paste its pairing string in Settings first"
                .into(),
        )
        .into());
    };
    let restored = running.restore_from_relay(&pairing, &manager.name).await;
    // The till may have stopped: it starts again whatever happened (a refusal changed
    // nothing; a restore cut off resumes when asked again).
    let started = duka.restart().await;
    if let Ok(r) = &started {
        crate::forward_events(&app, r);
    }
    let restored = restored?;
    duka.sign_out();
    started?;
    Ok(RelayRestoreDone {
        restored,
        signed_out: true,
    })
}
