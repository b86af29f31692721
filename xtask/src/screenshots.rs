//! `cargo xtask screenshots`: regenerates the README's pictures of the playground and of the HTML
//! report. The browser tests take them (headless Debian Chromium, `target/browser/`); this runs
//! those tests and copies the two the README shows into `docs/screenshots/`.

use std::path::Path;
use std::process::Command;

/// The screenshots the README shows: what the browser tests save, and where the README links.
const SHOWN: [(&str, &str); 2] = [("playground.png", "playground.png"), ("report.png", "report.png")];

pub fn screenshots(root: &Path) -> Result<(), String> {
    let (chromium, chromedriver) = crate::setup::browser()?;
    let playground = crate::playground::build(root)?;
    // The report test runs the `meshlens` CLI built beside the test binary; `--test all` alone
    // would not rebuild it.
    crate::run(Command::new(crate::cargo()).current_dir(root).args([
        "build",
        "-p",
        "host-harness",
        "--bin",
        "meshlens",
    ]))?;
    crate::run(
        Command::new(crate::cargo())
            .current_dir(root)
            .args(["test", "--workspace", "--features", "meshlens-tests/e2e", "--test", "all", "--", "browser_"])
            .env("MESHLENS_PLAYGROUND", &playground)
            .env("MESHLENS_CHROMIUM", &chromium)
            .env("MESHLENS_CHROMEDRIVER", &chromedriver),
    )?;
    let docs = root.join("docs/screenshots");
    std::fs::create_dir_all(&docs).map_err(|e| format!("{}: {e}", docs.display()))?;
    for (taken, shown) in SHOWN {
        let from = root.join("target/browser").join(taken);
        let to = docs.join(shown);
        std::fs::copy(&from, &to).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
        println!("wrote {}", to.display());
    }
    Ok(())
}
