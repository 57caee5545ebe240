//! The C allocator's settings for a long-running console (glibc on Linux;
//! elsewhere these do nothing).
//!
//! The console's per-tick garbage is large and short-lived: at 50,000
//! tenants a tick reads two result sets of 50,000 rows, builds a snapshot
//! of about 20 MB and drops the previous one. glibc raises its mmap
//! threshold to the largest block freed so far (up to 32 MiB), so after the
//! first tick those big vectors come from the heap, and what they free
//! stays resident between smaller live blocks. [`configure`] pins the
//! threshold (blocks of 256 KiB and more are mapped and unmapped whole) and
//! keeps one arena; [`release_free_memory`] hands free heap pages back to
//! the system after each tick.

/// Blocks this large or larger are mapped on their own and unmapped when
/// freed (glibc's default starts here too, but moves up).
pub const MMAP_THRESHOLD: usize = 256 * 1024;

/// One malloc arena and a fixed mmap threshold. glibc gives each thread that
/// allocates an arena of its own (up to eight per core), and memory freed in
/// one is not reused by the others: the console builds each snapshot on a
/// runtime worker and drops the previous one wherever the last reference
/// goes, so at 10,000 tenants its resident size swung between 45 and 62 MiB
/// with the default and stays flat at 50 MiB with one arena. The console
/// allocates little per second; the shared arena's lock costs nothing
/// measurable. Must run before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "mallopt is a C call; see the comment inside")]
pub fn configure() {
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets allocator parameters, takes no pointers,
    // and the caller runs it before the runtime or any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // Setting it also turns off the threshold's dynamic adjustment.
        libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}

/// Give free heap memory back to the system (glibc's `malloc_trim`, which
/// also releases free pages in the middle of the heap). A few milliseconds
/// at 50,000 tenants; the backend calls it once per tick.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "malloc_trim is a C call; see the comment inside"
)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it takes
    // the arena locks like malloc itself).
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
