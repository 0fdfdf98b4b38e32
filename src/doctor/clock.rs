//! Is the clock synchronised? Readings, targets and the office's
//! schedules carry wall-clock times; a Pi without a real-time clock that
//! booted without NTP is days or years off, and its writes look stale or
//! from the future to everyone else.

use super::Check;

pub fn check() -> Check {
    match synchronised() {
        Some(true) => Check::pass("clock", "synchronised (NTP)"),
        Some(false) => Check::fail(
            "clock",
            "not synchronised: the kernel says the time is unsynchronised",
            "enable NTP: `sudo timedatectl set-ntp true` (and check `timedatectl`)",
        ),
        None => Check::fail(
            "clock",
            "cannot ask the kernel whether the clock is synchronised",
            "check `timedatectl` by hand",
        ),
    }
}

/// The kernel's view (what `timedatectl`'s "System clock synchronized"
/// reports): `adjtimex` answers `TIME_ERROR` while the clock is not
/// disciplined by an NTP daemon.
#[cfg(target_os = "linux")]
fn synchronised() -> Option<bool> {
    // SAFETY: `timex` is plain data; with `modes == 0` adjtimex only reads.
    let state = unsafe {
        let mut timex: libc::timex = std::mem::zeroed();
        libc::adjtimex(&mut timex)
    };
    match state {
        -1 => None,
        libc::TIME_ERROR => Some(false),
        _ => Some(true),
    }
}

#[cfg(not(target_os = "linux"))]
fn synchronised() -> Option<bool> {
    None
}
