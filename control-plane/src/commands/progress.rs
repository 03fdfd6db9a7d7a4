//! Progress on stderr for commands that read or compute for long: drawn only when stderr is a
//! terminal (indicatif's stderr target draws nothing into a pipe or a file), so scripts and logs
//! see none of it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `length` units drawn with indicatif's `template`.
pub fn bar(template: &str, length: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// A spinner naming the step under way, ticking on its own.
pub fn spinner() -> ProgressBar {
    let spinner = bar("{spinner} {msg} {elapsed}", 0);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}
