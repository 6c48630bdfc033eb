//! Secrets (Daraja consumer key/secret, passkey, relay key) live outside SQLite.
//!
//! Backends, chosen by `DUKA_SECRET_BACKEND` (or `--secret-backend`):
//! - `keyring` — the OS keyring: Secret Service (GNOME Keyring, KWallet) on Linux, Keychain on
//!   macOS, Credential Manager on Windows. The default on a desktop.
//! - `file` — `secrets.json` in the data directory, mode 0600, for headless machines (servers,
//!   CI) where no keyring runs. Protected by file permissions only.
//! - `auto` (default) — `keyring` when one answers, otherwise `file`; the choice is reported
//!   so the CLI can say which is in use.
//!
//! Values read from the environment (`DUKA_CONSUMER_KEY`, …) are used and never stored: see
//! `config::Credentials`. No backend ever logs or prints a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// A secret value. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that must send it (an HTTP header, a password hash).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretKey {
    ConsumerKey,
    ConsumerSecret,
    Passkey,
    RelayKey,
    InitiatorPassword,
    /// The Daraja access token and its expiry, kept across processes (`TokenCache`). Internal:
    /// not in `ALL`, never set by hand.
    DarajaToken,
    /// Demo mode's key for a relay on this machine (several demo tills, one shop), apart from
    /// the shop's `RelayKey`. Set by pairing only.
    DemoRelayKey,
}

impl SecretKey {
    /// The relay key of a till: the shop's, or demo mode's.
    pub fn relay_key(mode: crate::config::Mode) -> SecretKey {
        match mode {
            crate::config::Mode::Shop => SecretKey::RelayKey,
            crate::config::Mode::Demo => SecretKey::DemoRelayKey,
        }
    }

    pub const ALL: [SecretKey; 5] = [
        SecretKey::ConsumerKey,
        SecretKey::ConsumerSecret,
        SecretKey::Passkey,
        SecretKey::RelayKey,
        SecretKey::InitiatorPassword,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecretKey::ConsumerKey => "consumer_key",
            SecretKey::ConsumerSecret => "consumer_secret",
            SecretKey::Passkey => "passkey",
            SecretKey::RelayKey => "relay_key",
            SecretKey::InitiatorPassword => "initiator_password",
            SecretKey::DarajaToken => "daraja_token",
            SecretKey::DemoRelayKey => "demo_relay_key",
        }
    }

    pub fn parse(s: &str) -> Result<SecretKey> {
        SecretKey::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "secret",
                    "one of consumer_key, consumer_secret, passkey, relay_key, initiator_password",
                    s,
                )
            })
    }
}

pub trait SecretStore: Send + Sync {
    /// `keyring`, `file` or `memory`.
    fn backend(&self) -> &'static str;
    fn get(&self, key: SecretKey) -> Result<Option<Secret>>;
    fn set(&self, key: SecretKey, value: &Secret) -> Result<()>;
    fn delete(&self, key: SecretKey) -> Result<()>;
}

/// In-memory, for tests.
#[derive(Default)]
pub struct MemorySecrets(Mutex<BTreeMap<SecretKey, Secret>>);

impl SecretStore for MemorySecrets {
    fn backend(&self) -> &'static str {
        "memory"
    }
    fn get(&self, key: SecretKey) -> Result<Option<Secret>> {
        Ok(self.0.lock().expect("poisoned").get(&key).cloned())
    }
    fn set(&self, key: SecretKey, value: &Secret) -> Result<()> {
        self.0.lock().expect("poisoned").insert(key, value.clone());
        Ok(())
    }
    fn delete(&self, key: SecretKey) -> Result<()> {
        self.0.lock().expect("poisoned").remove(&key);
        Ok(())
    }
}

/// The OS keyring, one entry per secret under a service name (default `duka`).
pub struct KeyringSecrets {
    service: String,
}

fn keyring_err(e: keyring::Error) -> Error {
    // keyring errors never contain the secret value.
    Error::Secret {
        backend: "keyring",
        message: e.to_string(),
    }
}

impl KeyringSecrets {
    pub fn new(service: &str) -> KeyringSecrets {
        KeyringSecrets {
            service: service.to_string(),
        }
    }

    /// Whether a keyring answers on this machine (a desktop session with Secret Service, …).
    pub fn available(&self) -> bool {
        match keyring::Entry::new(&self.service, "availability-probe")
            .and_then(|e| e.get_password())
        {
            Ok(_) | Err(keyring::Error::NoEntry) => true,
            Err(_) => false,
        }
    }

    fn entry(&self, key: SecretKey) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, key.name()).map_err(keyring_err)
    }
}

impl SecretStore for KeyringSecrets {
    fn backend(&self) -> &'static str {
        "keyring"
    }
    fn get(&self, key: SecretKey) -> Result<Option<Secret>> {
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(Secret(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }
    fn set(&self, key: SecretKey, value: &Secret) -> Result<()> {
        self.entry(key)?
            .set_password(value.expose())
            .map_err(keyring_err)
    }
    fn delete(&self, key: SecretKey) -> Result<()> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e)),
        }
    }
}

/// `secrets.json` (mode 0600 on Unix, the data directory's ACL on Windows) for headless
/// machines; replaced atomically on every write.
pub struct FileSecrets {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSecrets {
    pub fn new(data_dir: &Path) -> FileSecrets {
        FileSecrets {
            path: data_dir.join("secrets.json"),
            lock: Mutex::new(()),
        }
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Another process (the CLI beside the desktop) changes the file too: each change is a
    /// read-modify-write under an exclusive lock on `secrets.json.lock`, so none is lost.
    fn lock_file(&self) -> Result<std::fs::File> {
        let path = self.path.with_extension("json.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io(e))?;
        f.lock().map_err(|e| self.io(e))?;
        Ok(f)
    }

    fn read(&self) -> Result<BTreeMap<String, String>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Secret {
                backend: "file",
                // serde's message names a position, never the content.
                message: format!("{}: not a valid secrets file ({e})", self.path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn write(&self, map: &BTreeMap<String, String>) -> Result<()> {
        use std::io::Write;
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        // Elsewhere (Windows) there are no mode bits to set: the file takes the ACL inherited
        // from its folder. The default data directory is in the user's profile
        // (%APPDATA%\duka\duka\data), which only that user, SYSTEM and administrators can read;
        // a DUKA_DATA_DIR outside the profile gets whatever that folder allows (README, Secrets).
        let mut f = opts.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&serde_json::to_vec_pretty(map).expect("a map of strings serialises"))
            .and_then(|_| f.sync_all())
            .map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }
}

impl SecretStore for FileSecrets {
    fn backend(&self) -> &'static str {
        "file"
    }
    fn get(&self, key: SecretKey) -> Result<Option<Secret>> {
        let _g = self.lock.lock().expect("poisoned");
        Ok(self.read()?.remove(key.name()).map(Secret))
    }
    fn set(&self, key: SecretKey, value: &Secret) -> Result<()> {
        let _g = self.lock.lock().expect("poisoned");
        let _file = self.lock_file()?;
        let mut map = self.read()?;
        map.insert(key.name().to_string(), value.expose().to_string());
        self.write(&map)
    }
    fn delete(&self, key: SecretKey) -> Result<()> {
        let _g = self.lock.lock().expect("poisoned");
        let _file = self.lock_file()?;
        let mut map = self.read()?;
        if map.remove(key.name()).is_some() {
            self.write(&map)?;
        }
        Ok(())
    }
}

/// The Daraja token kept in the secret store (never SQLite), so that each CLI command and a
/// restarted desktop reuse it until shortly before it expires instead of asking Daraja for
/// another. Kept with a fingerprint of its scope (environment and consumer key): a token of
/// other credentials is never used. A secret store that fails is only logged: the client then
/// asks Daraja as before.
pub struct TokenCache(pub std::sync::Arc<dyn SecretStore>);

fn scope_fingerprint(scope: &str) -> String {
    duka_relay_proto::sign(b"duka token scope", scope)
}

impl daraja::TokenStore for TokenCache {
    fn load(&self, scope: &str) -> Option<(String, std::time::SystemTime)> {
        let kept = match self.0.get(SecretKey::DarajaToken) {
            Ok(k) => k?,
            Err(e) => {
                tracing::warn!("the kept Daraja token could not be read: {e}");
                return None;
            }
        };
        let v: serde_json::Value = serde_json::from_str(kept.expose()).ok()?;
        if v["scope"].as_str() != Some(scope_fingerprint(scope).as_str()) {
            return None;
        }
        let token = v["token"].as_str()?.to_string();
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(v["expires_at"].as_u64()?);
        Some((token, at))
    }

    fn save(&self, scope: &str, token: &str, expires_at: std::time::SystemTime) {
        let secs = expires_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let v = serde_json::json!({"scope": scope_fingerprint(scope), "token": token, "expires_at": secs});
        if let Err(e) = self
            .0
            .set(SecretKey::DarajaToken, &Secret::new(v.to_string()))
        {
            tracing::warn!("the Daraja token could not be kept for the next process: {e}");
        }
    }

    fn forget(&self, scope: &str, token: &str) {
        if self.load(scope).is_some_and(|(kept, _)| kept == token)
            && let Err(e) = self.0.delete(SecretKey::DarajaToken)
        {
            tracing::warn!("the refused Daraja token could not be forgotten: {e}");
        }
    }
}

/// Opens the backend named by `choice` (`auto`, `keyring`, `file`, `memory`).
pub fn open(choice: &str, data_dir: &Path) -> Result<Box<dyn SecretStore>> {
    match choice {
        "keyring" => {
            let k = KeyringSecrets::new("duka");
            if !k.available() {
                return Err(Error::Secret {
                    backend: "keyring",
                    message: "no OS keyring answers in this session; use DUKA_SECRET_BACKEND=file on a headless machine".into(),
                });
            }
            Ok(Box::new(k))
        }
        "file" => Ok(Box::new(FileSecrets::new(data_dir))),
        "memory" => Ok(Box::new(MemorySecrets::default())),
        "auto" | "" => {
            let k = KeyringSecrets::new("duka");
            if k.available() {
                Ok(Box::new(k))
            } else {
                Ok(Box::new(FileSecrets::new(data_dir)))
            }
        }
        other => Err(Error::invalid(
            "secret_backend",
            "auto, keyring, file or memory",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &dyn SecretStore) {
        assert_eq!(s.get(SecretKey::Passkey).unwrap(), None);
        s.set(SecretKey::Passkey, &Secret::new("pk-1")).unwrap();
        s.set(SecretKey::ConsumerKey, &Secret::new("ck")).unwrap();
        assert_eq!(s.get(SecretKey::Passkey).unwrap().unwrap().expose(), "pk-1");
        s.set(SecretKey::Passkey, &Secret::new("pk-2")).unwrap();
        assert_eq!(s.get(SecretKey::Passkey).unwrap().unwrap().expose(), "pk-2");
        s.delete(SecretKey::Passkey).unwrap();
        s.delete(SecretKey::Passkey).unwrap();
        assert_eq!(s.get(SecretKey::Passkey).unwrap(), None);
        assert_eq!(
            s.get(SecretKey::ConsumerKey).unwrap().unwrap().expose(),
            "ck"
        );
    }

    #[test]
    fn memory_backend() {
        exercise(&MemorySecrets::default());
    }

    #[test]
    fn file_backend_is_private_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&FileSecrets::new(dir.path()));
        let again = FileSecrets::new(dir.path());
        assert_eq!(
            again.get(SecretKey::ConsumerKey).unwrap().unwrap().expose(),
            "ck"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_secrets_file_is_an_error_that_hides_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets.json"), "{\"passkey\": \"hunter2").unwrap();
        let err = FileSecrets::new(dir.path())
            .get(SecretKey::Passkey)
            .unwrap_err();
        assert_eq!(err.code(), "secret_store");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_never_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn unknown_backend_is_named() {
        let err = open("vault", Path::new("/nonexistent")).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("secret_backend: expected auto, keyring, file or memory")
        );
    }

    #[test]
    fn two_handles_on_one_secrets_file_lose_no_write() {
        // Two handles stand for two processes (the desktop and a CLI command): each has its
        // own in-process mutex, so only the file lock keeps their read-modify-writes apart.
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = [SecretKey::ConsumerKey, SecretKey::Passkey]
            .into_iter()
            .map(|key| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let f = FileSecrets::new(&d);
                    for i in 0..200 {
                        f.set(key, &Secret::new(format!("v{i}"))).unwrap();
                        f.set(SecretKey::DarajaToken, &Secret::new(format!("t{i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let f = FileSecrets::new(dir.path());
        for key in [SecretKey::ConsumerKey, SecretKey::Passkey] {
            assert_eq!(f.get(key).unwrap().unwrap().expose(), "v199", "{key:?}");
        }
    }
}
