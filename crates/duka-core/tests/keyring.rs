//! The real OS keyring (Secret Service over D-Bus). Needs a session with an unlocked keyring,
//! so it is ignored by a plain `cargo test`; `scripts/test-keyring.sh` (called by `.ci/run`)
//! starts `dbus-run-session` and `gnome-keyring-daemon` and runs it with `--ignored`.

use duka_core::secrets::{self, KeyringSecrets, Secret, SecretKey, SecretStore};

#[test]
#[ignore = "needs a Secret Service session: run scripts/test-keyring.sh"]
fn real_keyring_round_trip_across_instances() {
    let service = format!("duka-test-{}", std::process::id());
    let a = KeyringSecrets::new(&service);
    assert!(a.available(), "no Secret Service answers in this session");
    assert_eq!(a.get(SecretKey::Passkey).unwrap(), None);
    a.set(SecretKey::Passkey, &Secret::new("pk-from-keyring"))
        .unwrap();
    a.set(SecretKey::ConsumerSecret, &Secret::new("cs-from-keyring"))
        .unwrap();

    // A fresh handle (as after a restart of the app) reads what the first one wrote.
    let b = KeyringSecrets::new(&service);
    assert_eq!(
        b.get(SecretKey::Passkey).unwrap().unwrap().expose(),
        "pk-from-keyring"
    );
    b.set(SecretKey::Passkey, &Secret::new("pk-2")).unwrap();
    assert_eq!(a.get(SecretKey::Passkey).unwrap().unwrap().expose(), "pk-2");

    b.delete(SecretKey::Passkey).unwrap();
    b.delete(SecretKey::Passkey).unwrap();
    assert_eq!(a.get(SecretKey::Passkey).unwrap(), None);
    assert_eq!(
        a.get(SecretKey::ConsumerSecret).unwrap().unwrap().expose(),
        "cs-from-keyring"
    );
    a.delete(SecretKey::ConsumerSecret).unwrap();

    // With a keyring answering, `auto` picks it over the file fallback.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        secrets::open("auto", dir.path()).unwrap().backend(),
        "keyring"
    );
    assert_eq!(
        secrets::open("keyring", dir.path()).unwrap().backend(),
        "keyring"
    );
}
