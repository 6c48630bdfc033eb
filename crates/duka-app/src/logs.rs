//! The till's log files: `logs/` in the data directory, one file per shell (`duka.log` for the
//! desktop, `duka-cli.log` for the CLI), rotated by size so a till that runs for years keeps at
//! most `KEEP + 1` files of `MAX_BYTES`. Every line passes through `daraja::redact_digits`
//! before it is written, so a phone number or the phone digits of a CheckoutRequestID never
//! reach the disk, whatever a log call put in its message. The level is `RUST_LOG` when set,
//! else the `log_level` setting, else `info`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file is rotated once it would grow past this.
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept (`duka.log.1` newest … `duka.log.5` oldest).
pub const KEEP: usize = 5;

/// A size-rotated, redacting log file.
pub struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<Option<(File, u64)>>,
}

impl Rotating {
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<Rotating> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = f.metadata()?.len();
        Ok(Rotating {
            path,
            max_bytes,
            keep,
            file: Mutex::new(Some((f, len))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self, n: usize) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    /// Writes one (redacted) record, rotating first when it would not fit.
    pub fn write_record(&self, record: &[u8]) -> std::io::Result<()> {
        let text = daraja::redact_digits(&String::from_utf8_lossy(record));
        let bytes = text.as_bytes();
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, len)) = guard.as_ref()
            && *len > 0
            && len + bytes.len() as u64 > self.max_bytes
        {
            *guard = None;
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            if self.keep > 0 {
                std::fs::rename(&self.path, self.rotated(1))?;
            } else {
                std::fs::remove_file(&self.path)?;
            }
        }
        if guard.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let len = f.metadata()?.len();
            *guard = Some((f, len));
        }
        let (f, len) = guard.as_mut().expect("opened above");
        f.write_all(bytes)?;
        *len += bytes.len() as u64;
        Ok(())
    }
}

/// What `tracing_subscriber` writes one event through.
pub struct RecordWriter {
    log: Arc<Rotating>,
    buf: Vec<u8>,
}

impl Write for RecordWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let r = self.log.write_record(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[derive(Clone)]
pub struct MakeRecordWriter(pub Arc<Rotating>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeRecordWriter {
    type Writer = RecordWriter;
    fn make_writer(&'a self) -> RecordWriter {
        RecordWriter {
            log: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// The `log_level` setting of the till `data_dir` runs, if its database exists.
pub fn stored_level(data_dir: &Path) -> Option<String> {
    let env = |k: &str| std::env::var(k).ok();
    let till = duka_core::config::Mode::resolve(data_dir, &env, &|| Ok(false)).ok()?;
    let path = till.db_path(data_dir);
    if !path.exists() {
        return None;
    }
    let store = duka_core::Store::open(&path).ok()?;
    duka_core::config::Settings::load(&store, &env, till)
        .ok()
        .map(|s| s.log_level)
}

/// The filter: `RUST_LOG`, else the stored level, else `info`.
pub fn filter(stored: Option<&str>) -> tracing_subscriber::EnvFilter {
    match std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(v) => tracing_subscriber::EnvFilter::new(v),
        None => tracing_subscriber::EnvFilter::new(stored.unwrap_or("info")),
    }
}

/// Sends this process's logs to `data_dir/logs/{file}`. Returns the file's path. A second call
/// (tests start several tills in one process) leaves the first in place.
pub fn init(data_dir: &Path, file: &str, stored_level: Option<&str>) -> std::io::Result<PathBuf> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let log = Arc::new(Rotating::open(
        data_dir.join("logs").join(file),
        MAX_BYTES,
        KEEP,
    )?);
    let path = log.path().to_path_buf();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(true)
        .with_writer(MakeRecordWriter(log));
    let _ = tracing_subscriber::registry()
        .with(filter(stored_level))
        .with(layer)
        .try_init();
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_redacted_and_files_rotate_by_size_keeping_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let log = Rotating::open(dir.path().join("logs").join("duka.log"), 200, 2).unwrap();
        log.write_record(b"charge to 254708374149 for ws_CO_191220191020363925708374149\n")
            .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(
            !text.contains("708374149") && !text.contains("254708374149"),
            "{text}"
        );
        assert!(text.contains("254******149"), "{text}");
        for i in 0..50 {
            log.write_record(
                format!("line {i:03} of some length to fill the file up\n").as_bytes(),
            )
            .unwrap();
        }
        let names: Vec<String> = {
            let mut v: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, vec!["duka.log", "duka.log.1", "duka.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.path().join("logs").join(n))
                .unwrap()
                .len();
            assert!(len <= 200, "{n}: {len} bytes");
        }
        let newest = std::fs::read_to_string(log.path()).unwrap();
        assert!(newest.contains("line 049"), "{newest}");
        assert!(
            std::fs::read_to_string(dir.path().join("logs/duka.log.1"))
                .unwrap()
                .contains("line 04"),
            "the previous file is next"
        );
    }
}
