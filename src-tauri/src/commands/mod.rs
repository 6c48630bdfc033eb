//! Commands, one file per domain. Each is a short wrapper over duka-core.

pub mod auth;
pub mod backup;
pub mod day;
pub mod payments;
pub mod phone;
pub mod receipts;
pub mod reports;
pub mod sales;
pub mod settings;
pub mod system;

use std::path::PathBuf;

use crate::{Duka, Result, UiError};

/// Where exports and saved receipts go: `DUKA_EXPORT_DIR`, else the user's Downloads folder,
/// else `exports/` in the data folder.
pub fn export_dir(data_dir: &std::path::Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("DUKA_EXPORT_DIR") {
        return dir.into();
    }
    directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| data_dir.join("exports"))
}

/// Writes a file whole (temporary file, then rename) off the UI thread; returns its path.
pub async fn save_file(duka: &Duka, name: String, bytes: Vec<u8>) -> Result<String> {
    let dir = duka.export_dir.clone();
    tauri::async_runtime::spawn_blocking(move || -> Result<String> {
        let io = |e: std::io::Error| UiError::io(&dir, e);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.part"));
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path.display().to_string())
    })
    .await
    .map_err(UiError::internal)?
}
