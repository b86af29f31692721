//! The browser the page tests use (headless Debian Chromium through ChromeDriver) reports what a
//! user's console would show, so "no console errors" in those tests can fail.

use std::time::Duration;

use meshlens_tests::browser::Browser;

#[test]
fn console_errors_and_failed_loads_reach_the_test() {
    let browser = Browser::start(800, 600);
    let page = "<!doctype html><title>t</title><p id=p>hello</p><script>console.error('boom from the page');\
                document.getElementById('p').dataset.ready='yes'</script>";
    browser.goto(&format!("data:text/html,{}", page.replace('#', "%23")));
    let p = browser.wait_for("#p[data-ready=yes]", Duration::from_secs(10));
    assert_eq!(p.text(), "hello");
    let errors = browser.console_errors();
    assert!(errors.iter().any(|e| e.contains("boom from the page")), "{errors:?}");
    browser.script("setTimeout(() => { throw new Error('uncaught later') }, 0)", &[]);
    browser.wait_until("return true", Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(200));
    let errors = browser.console_errors();
    assert!(errors.iter().any(|e| e.contains("uncaught later")), "{errors:?}");
}
