fn main() {
    // A Windows build embeds the window and .exe icon as a resource, which must be an .ico
    // (made from icons/icon.png, 16 to 256 px); other targets use the PNG of tauri.conf.json.
    let windows = tauri_build::WindowsAttributes::new().window_icon_path("../icons/icon.ico");
    let attributes = tauri_build::Attributes::new().windows_attributes(windows);
    if let Err(error) = tauri_build::try_build(attributes) {
        println!("{error:#}");
        std::process::exit(1);
    }
}
