use duka_tests::Till;

const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
const SECRET: &str = "Zq9sTopSecretConsumerValue";

fn file_contains(path: &std::path::Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

#[test]
fn secrets_are_stored_outside_sqlite_and_never_printed() {
    let till = Till::new();
    till.run(&["init"]).ok();
    for (k, v) in [
        ("consumer_key", "ck-demo-123"),
        ("consumer_secret", SECRET),
        ("passkey", PASSKEY),
    ] {
        let r = till
            .run_with_stdin(&["secret", "set", k], &format!("{v}\n"))
            .ok();
        assert!(!r.stdout.contains(v) && !r.stderr.contains(v));
    }
    let status = till.json(&["secret", "status"]);
    assert_eq!(status["backend"], "file");
    assert_eq!(status["secrets"][2]["source"], "file");
    let r = till.run(&["config", "show"]);
    assert!(
        r.stderr.contains("(shop till); run `duka init` first"),
        "{}",
        r.stderr
    );
    till.run(&["init"]).ok();
    let show = till.run(&["config", "show"]).ok();
    assert!(
        show.stdout.contains("credentials      set"),
        "{}",
        show.stdout
    );
    // With credentials and no environment chosen, the shop's till runs (the sandbox), not
    // demo mode's, whose database `init` made before there were any.
    assert_eq!(till.json(&["config", "show"])["environment"], "sandbox");

    for out in [show.stdout, serde_json::to_string(&status).unwrap()] {
        assert!(!out.contains(SECRET) && !out.contains(PASSKEY));
    }
    for f in ["duka.db", "duka.db-wal", "demo/duka.db", "demo/duka.db-wal"] {
        let p = till.data_dir().join(f);
        assert!(
            !file_contains(&p, SECRET) && !file_contains(&p, PASSKEY),
            "{f} holds a secret"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(till.data_dir().join("secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "secrets file readable by others");
    }

    // A lost secret does not turn the shop's till into demo mode (whose PINs are public).
    till.run(&["secret", "delete", "consumer_secret"]).ok();
    assert_eq!(till.json(&["config", "show"])["environment"], "sandbox");
}

#[test]
fn secrets_from_the_environment_are_used_not_stored() {
    let till = Till::new()
        .with_env("DUKA_CONSUMER_KEY", "env-ck")
        .with_env("DUKA_CONSUMER_SECRET", SECRET)
        .with_env("DUKA_PASSKEY", PASSKEY);
    till.run(&["init"]).ok();
    let status = till.json(&["secret", "status"]);
    assert_eq!(status["secrets"][1]["source"], "env");
    assert!(
        !till.data_dir().join("secrets.json").exists(),
        "nothing written to the secret store"
    );
    assert_eq!(till.json(&["config", "show"])["environment"], "sandbox");
}

#[test]
fn empty_or_unknown_secrets_are_refused() {
    let till = Till::new();
    let r = till.run_with_stdin(&["secret", "set", "passkey"], "");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: passkey: expected the value on standard input"),
        "{}",
        r.stderr
    );
    let r = till.run_with_stdin(&["secret", "set", "pin"], "x");
    assert!(
        r.stderr
            .starts_with("error: secret: expected one of consumer_key"),
        "{}",
        r.stderr
    );
}

/// #12: the Daraja token is kept in the secret store (not SQLite) with its expiry, so a second
/// process reuses it instead of asking Daraja again; a token of other credentials is not used.
#[test]
fn a_second_process_reuses_the_kept_daraja_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(daraja_sim::Sim::spawn(daraja_sim::SimConfig {
            time_unit_ms: 10,
            default_behaviour: daraja_sim::Behaviour::Pay { after_units: 1 },
            ..daraja_sim::SimConfig::default()
        }))
        .unwrap();
    let till = Till::new()
        .with_env("DUKA_ENVIRONMENT", "custom")
        .with_env("DUKA_DARAJA_BASE_URL", sim.base_url())
        .with_env("DUKA_SHORTCODE", "174379")
        .with_env("DUKA_POLL_SCALE", "50");
    till.run(&["init"]).ok();
    for (k, v) in [
        ("consumer_key", sim.config().consumer_key.as_str()),
        ("consumer_secret", sim.config().consumer_secret.as_str()),
        ("passkey", daraja_sim::config::SANDBOX_PASSKEY),
    ] {
        till.run_with_stdin(&["secret", "set", k], &format!("{v}\n"))
            .ok();
    }
    let tokens = || {
        sim.log()
            .iter()
            .filter(|l| l.path.contains("oauth"))
            .count()
    };
    for round in 1..=2 {
        let id = till.json(&["sale", "new", "--item", "Tea", "--price", "50"])["id"].to_string();
        let r = till
            .run(&["charge", "--sale", &id, "--phone", "0700000000"])
            .ok();
        assert!(r.stdout.contains("PAID"), "{}", r.stdout);
        assert_eq!(tokens(), 1, "round {round}: one token for both processes");
    }
    let kept = std::fs::read_to_string(till.data_dir().join("secrets.json")).unwrap();
    assert!(kept.contains("daraja_token"), "kept in the secret store");
    for f in ["duka.db", "duka.db-wal"] {
        assert!(
            !file_contains(&till.data_dir().join(f), "daraja_token")
                && !file_contains(&till.data_dir().join(f), "expires_at"),
            "{f} holds the token"
        );
    }
    // Other credentials (a new consumer key) do not use it.
    till.run_with_stdin(&["secret", "set", "consumer_key"], "another-key\n")
        .ok();
    let id = till.json(&["sale", "new", "--item", "Tea", "--price", "50"])["id"].to_string();
    let r = till.run(&["charge", "--sale", &id, "--phone", "0700000000"]);
    assert_ne!(r.code, 0, "the simulator refuses the unknown key");
    assert_eq!(
        tokens(),
        2,
        "a token was asked for the new key, the kept one not used"
    );
}
