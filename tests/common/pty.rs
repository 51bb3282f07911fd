//! A pseudo-terminal for tests that run a child whose output must look like a terminal's
//! (shared by the facade's and the CLI's tests).
#![allow(dead_code)]

use std::os::fd::{FromRawFd, OwnedFd};

/// A pseudo-terminal: its master end (to read) and its child end (a terminal for the child).
pub fn open_pty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors it opened, which are then owned here.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and nothing else owns them.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}
