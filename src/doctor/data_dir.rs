//! The data directory: writable (the store and the node key live there)
//! and with room to grow. A full SD card stops every commit.

use std::path::Path;

use super::Check;

/// Below this much free space the store may fail its next commits.
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

pub fn check(dir: &Path) -> Check {
    let name = format!("data directory {}", dir.display());
    if let Err(error) = std::fs::create_dir_all(dir) {
        return Check::fail(
            name,
            format!("cannot create it: {error}"),
            "create it and give it to the node's user (systemd's StateDirectory= does both)",
        );
    }
    let probe = tempfile::NamedTempFile::new_in(dir);
    if let Err(error) = probe {
        return Check::fail(
            name,
            format!("not writable: {error}"),
            format!(
                "give it to the node's user: sudo chown -R officemesh: {}",
                dir.display()
            ),
        );
    }
    match free_bytes(dir) {
        Some(free) if free < MIN_FREE_BYTES => Check::fail(
            name,
            format!("writable, only {} MiB free", free / (1024 * 1024)),
            format!(
                "free at least {} MiB on its file system",
                MIN_FREE_BYTES / (1024 * 1024)
            ),
        ),
        Some(free) => Check::pass(name, format!("writable, {} MiB free", free / (1024 * 1024))),
        None => Check::pass(name, "writable (free space unknown)"),
    }
}

/// Bytes available to an unprivileged user on `dir`'s file system.
#[cfg(target_os = "linux")]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is written by the call
    // before it is read, only when the call succeeds.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    // The fields are 32-bit on armhf, 64-bit elsewhere.
    #[allow(clippy::useless_conversion)]
    Some(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

#[cfg(not(target_os = "linux"))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}
