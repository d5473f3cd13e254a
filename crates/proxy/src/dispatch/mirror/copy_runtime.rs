//! The threads mirror copies run on: a runtime of their own whose threads have the lowest
//! CPU priority, so copies use only the CPU that live traffic leaves idle. On a busy
//! gateway copies wait instead of the client's call; those that wait too long hit their
//! `copy_timeout` or find the target's queue full, and are counted, never queued without
//! bound.

use std::io;

use tokio::runtime::{Handle, Runtime};

/// The nice value of the copies' threads: the lowest priority a thread can have without
/// a real-time policy, and one any process may set without privileges.
#[cfg(target_os = "linux")]
const COPY_THREAD_NICE: i32 = 19;

/// The threads mirror copies run on. Started once by the gateway when its configuration
/// mirrors any route, and shared by every snapshot, so building a snapshot starts no
/// thread. Dropping the last handle stops the copies still running.
#[derive(Debug)]
pub struct CopyRuntime {
    handle: Handle,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl CopyRuntime {
    /// Starts one low-priority thread per two cores (at least one).
    ///
    /// # Errors
    ///
    /// When the operating system refuses the threads.
    pub fn start() -> io::Result<CopyRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("yardmaster-copies")
            .worker_threads(copy_threads())
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(CopyRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for CopyRuntime {
    fn drop(&mut self) {
        // The last snapshot may go away inside a task, where a runtime cannot wait for its
        // threads to stop.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Fewer copy threads than cores: on two cores one copy thread instead of two took about
/// a tenth less gateway CPU per mirrored call, and at most half the cores run copies at
/// any moment.
fn copy_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
}

/// Lowers the calling thread's CPU priority (Linux: on a thread ID `setpriority(2)`
/// changes that thread alone). Elsewhere copies run at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(thread), COPY_THREAD_NICE) {
            tracing::warn!(%error, "mirror copies run at normal CPU priority: lowering it failed");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn copies_run_on_threads_at_the_lowest_priority() {
        let own = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = own().unwrap();
        let copies = CopyRuntime::start().unwrap();
        let (tx, rx) = mpsc::channel();
        copies.handle().spawn(async move {
            let thread = rustix::thread::gettid();
            let nice = rustix::process::getpriority_process(Some(thread));
            tx.send((nice, std::thread::current().name().map(str::to_owned)))
                .unwrap();
        });
        let (nice, name) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(nice.unwrap(), COPY_THREAD_NICE);
        assert_eq!(name.as_deref(), Some("yardmaster-copies"));
        // The thread that started the runtime keeps its priority.
        assert_eq!(own().unwrap(), before);
        assert_eq!(copies.handle().metrics().num_workers(), copy_threads());
    }
}
