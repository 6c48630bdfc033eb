use super::keys::KEYS;
use super::*;
use crate::secrets::MemorySecrets;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn demo_by_default_then_env_wins_over_stored() {
    let mut store = Store::open_in_memory().unwrap();
    let s = Settings::load(&store, &no_env, Mode::Demo).unwrap();
    assert_eq!(s.environment, Environment::Demo);
    assert_eq!(
        Settings::load(&store, &no_env, Mode::Shop)
            .unwrap()
            .environment,
        Environment::Sandbox,
        "the shop's till never runs demo"
    );

    set_setting(&mut store, "shortcode", "174379").unwrap();
    set_setting(&mut store, "till_type", "till").unwrap();
    let env = |k: &str| (k == "DUKA_SHORTCODE").then(|| "600000".to_string());
    let s = Settings::load(&store, &env, Mode::Shop).unwrap();
    assert_eq!(s.shortcode.as_deref(), Some("600000"));
    assert_eq!(s.till_type, TillType::Till);
    assert!(s.sources.contains(&("shortcode".into(), Source::Env)));
    assert!(s.sources.contains(&("till_type".into(), Source::Stored)));
    assert_eq!(
        Settings::load(&store, &no_env, Mode::Shop)
            .unwrap()
            .shortcode
            .as_deref(),
        Some("174379")
    );
}

#[test]
fn bad_values_name_the_field() {
    let mut store = Store::open_in_memory().unwrap();
    let e = set_setting(&mut store, "shortcode", "12ab").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("shortcode: expected 5 to 7 digits"),
        "{e}"
    );
    let e = set_setting(&mut store, "colour", "red").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("setting: expected one of environment"),
        "{e}"
    );
    let env = |k: &str| (k == "DUKA_ENVIRONMENT").then(|| "moon".to_string());
    let e = Settings::load(&store, &env, Mode::Shop).unwrap_err();
    assert!(
        e.to_string()
            .contains("DUKA_ENVIRONMENT: environment: expected demo"),
        "{e}"
    );
    assert!(
        store.setting("shortcode").unwrap().is_none(),
        "nothing half written"
    );
}

#[test]
fn every_key_has_a_value_in_settings() {
    let store = Store::open_in_memory().unwrap();
    let s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
    for k in KEYS {
        assert!(s.value(k.name).is_ok(), "{} has no value", k.name);
    }
    assert_eq!(s.rows().len(), KEYS.len());
    let printer = s.rows().into_iter().find(|r| r.0 == "printer").unwrap();
    assert_eq!((printer.1, printer.2), (None, Source::Default));
    assert!(s.value("colour").is_err());
}

#[test]
fn every_key_but_the_environment_can_be_set_read_back_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let sample = |name: &str| -> String {
        match name {
            "daraja_base_url" | "relay_url" => "https://example.com".into(),
            "shortcode" | "party_b" => "123456".into(),
            "till_type" => "till".into(),
            "shop_name" => "Mama Mboga".into(),
            "printer" => "192.168.1.50:9100".into(),
            "initiator" => "testapi".into(),
            "certificate" => cert.display().to_string(),
            "log_level" => "debug".into(),
            "discount_limit" => "15".into(),
            "backup_dir" => dir.path().join("backups").display().to_string(),
            "backup_keep" => "30".into(),
            other => panic!("no sample for {other}: add one"),
        }
    };
    let store = Store::open_in_memory().unwrap();
    let mut s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
    let defaults = s.clone();
    for k in KEYS.iter().filter(|k| k.name != "environment") {
        let v = sample(k.name);
        s.set_value(k.name, Some(&v)).unwrap();
        assert_eq!(
            s.value(k.name).unwrap().as_deref(),
            Some(v.as_str()),
            "{}",
            k.name
        );
        s.set_value(k.name, None).unwrap();
        assert_eq!(
            s.value(k.name).unwrap(),
            defaults.value(k.name).unwrap(),
            "{}",
            k.name
        );
    }
    let e = s.set_value("shortcode", Some("12")).unwrap_err();
    assert!(e.to_string().starts_with("shortcode: expected"), "{e}");
    let e = s
        .set_value(
            "certificate",
            Some(&dir.path().join("none.pem").display().to_string()),
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("certificate: expected"), "{e}");
}

#[test]
fn a_shop_till_is_ready_only_with_credentials_shortcode_and_a_tills_number() {
    let store = Store::open_in_memory().unwrap();
    let mut s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
    let all = |_: SecretKey| true;
    let e = check_ready(&s, &|k| k != SecretKey::Passkey).unwrap_err();
    assert!(e.to_string().starts_with("passkey: expected"), "{e}");
    let e = check_ready(&s, &all).unwrap_err();
    assert!(e.to_string().starts_with("shortcode: expected"), "{e}");
    s.set_value("shortcode", Some("174379")).unwrap();
    check_ready(&s, &all).unwrap();
    s.set_value("till_type", Some("till")).unwrap();
    let e = check_ready(&s, &all).unwrap_err();
    assert!(e.to_string().starts_with("party_b: expected"), "{e}");
    s.set_value("party_b", Some("654321")).unwrap();
    check_ready(&s, &all).unwrap();
    s.environment = Environment::Custom;
    let e = check_ready(&s, &all).unwrap_err();
    assert!(
        e.to_string().starts_with("daraja_base_url: expected"),
        "{e}"
    );
    s.environment = Environment::Demo;
    check_ready(&s, &|_| false).unwrap();
}

#[test]
fn which_till_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let env_is = |v: &'static str| move |k: &str| (k == "DUKA_ENVIRONMENT").then(|| v.to_string());
    // Nothing yet: demo without credentials, the shop's till with them.
    assert_eq!(
        Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
        Mode::Demo
    );
    assert_eq!(Mode::resolve(d, &no_env, &|| Ok(true)).unwrap(), Mode::Shop);
    assert_eq!(
        Mode::resolve(d, &env_is("production"), &|| Ok(false)).unwrap(),
        Mode::Shop
    );
    assert_eq!(
        Mode::resolve(d, &env_is("demo"), &|| Ok(true)).unwrap(),
        Mode::Demo
    );
    // A choice wins over credentials, and the environment over a choice.
    Mode::Demo.choose(d).unwrap();
    assert_eq!(Mode::resolve(d, &no_env, &|| Ok(true)).unwrap(), Mode::Demo);
    assert_eq!(
        Mode::resolve(d, &env_is("sandbox"), &|| Ok(true)).unwrap(),
        Mode::Shop
    );
    Mode::Shop.choose(d).unwrap();
    assert_eq!(
        Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
        Mode::Shop
    );
    std::fs::write(d.join("till"), "moon").unwrap();
    let e = Mode::resolve(d, &no_env, &|| Ok(false)).unwrap_err();
    assert!(
        e.to_string().starts_with("till: expected shop or demo in "),
        "{e}"
    );
    assert_ne!(Mode::Shop.db_path(d), Mode::Demo.db_path(d));
}

#[test]
fn a_shop_database_holding_demo_data_moves_to_the_demo_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let mut old = Store::open(&db_path(d)).unwrap();
        set_setting(&mut old, "environment", "demo").unwrap();
        old.add_cashier_with_pin("Owner", "manager", "1234")
            .unwrap();
    }
    assert_eq!(
        Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
        Mode::Demo
    );
    assert!(
        !db_path(d).exists(),
        "the shop's place is empty: its first start asks for a manager"
    );
    let demo = Store::open(&demo_db_path(d)).unwrap();
    assert_eq!(demo.cashiers().unwrap()[0].name, "Owner");
    // The demo database, opened as the shop's, would be refused.
    let e = Settings::load(&demo, &no_env, Mode::Shop).unwrap_err();
    assert!(
        e.to_string().contains("demo mode has its own database"),
        "{e}"
    );
}

#[test]
fn credentials_from_env_are_not_stored() {
    let secrets = MemorySecrets::default();
    secrets
        .set(SecretKey::Passkey, &Secret::new("stored-pk"))
        .unwrap();
    let env = |k: &str| match k {
        "DUKA_CONSUMER_KEY" => Some("env-ck".to_string()),
        "DUKA_CONSUMER_SECRET" => Some("env-cs".to_string()),
        _ => None,
    };
    let c = Credentials::load(&secrets, &env).unwrap().unwrap();
    assert_eq!(c.consumer_key.expose(), "env-ck");
    assert_eq!(c.passkey.expose(), "stored-pk");
    assert_eq!(secrets.get(SecretKey::ConsumerKey).unwrap(), None);
    assert!(!format!("{c:?}").contains("env-c"));
    assert!(
        Credentials::load(&MemorySecrets::default(), &env)
            .unwrap()
            .is_none()
    );
}

#[test]
fn backup_settings_are_a_folder_and_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
    assert_eq!((s.backup_dir.clone(), s.backup_keep), (None, BACKUP_KEEP));

    // A folder that exists, or one the first backup makes in a folder that exists.
    let here = dir.path().display().to_string();
    assert_eq!(
        check_setting("backup_dir", &format!(" {here} ")).unwrap(),
        here
    );
    let new = dir.path().join("backups").display().to_string();
    set_setting(&mut store, "backup_dir", &new).unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let gone = dir.path().join("no-stick").join("duka");
    for bad in [
        "".to_string(),
        "backups".into(),
        file.display().to_string(),
        gone.display().to_string(),
    ] {
        let e = check_setting("backup_dir", &bad).unwrap_err();
        assert!(
            e.to_string().starts_with("backup_dir: expected a folder"),
            "{bad}: {e}"
        );
    }

    assert_eq!(check_setting("backup_keep", " 30 ").unwrap(), "30");
    for ok in ["1", "365"] {
        check_setting("backup_keep", ok).unwrap();
    }
    for bad in ["0", "366", "-1", "7.5", "many", ""] {
        let e = check_setting("backup_keep", bad).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("backup_keep: expected a whole number"),
            "{bad}: {e}"
        );
    }
    set_setting(&mut store, "backup_keep", "3").unwrap();
    let s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
    assert_eq!(
        (s.backup_dir.as_deref(), s.backup_keep),
        (Some(new.as_str()), 3)
    );
    assert!(
        s.rows()
            .iter()
            .any(|r| r.0 == "backup_keep" && r.1.as_deref() == Some("3"))
    );
}
