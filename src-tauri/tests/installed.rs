//! The app a Debian package installed (`scripts/package-deb.sh --check`): started from its
//! installed path through tauri-driver under Xvfb, it reaches its first screen. Not the cargo
//! build: `DUKA_INSTALLED_APP` names the binary.

mod webdriver;

use webdriver::*;

#[tokio::test]
#[ignore = "needs an installed package: scripts/package-deb.sh --check"]
async fn the_installed_app_reaches_its_first_screen() {
    let app =
        std::env::var("DUKA_INSTALLED_APP").expect("DUKA_INSTALLED_APP: the installed binary");
    assert!(
        app.starts_with("/usr/"),
        "{app}: the packaged app, not a build tree"
    );
    let c = connect_to(&app).await;
    // No credentials: demo mode, whose first screen is the sign-in with its staff.
    wait_text(&c, "demo-banner", "DEMO").await;
    wait_text(&c, "demo-staff", "Owner").await;
    shot(&c, "installed-first-screen").await;
    close(c).await;
}
