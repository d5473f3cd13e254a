//! CPU time and memory of running processes, and this process's open-files limit, read
//! from `/proc`.
//!
//! A [`Processes`] is one process, or one process and its children (nginx's master and
//! workers). Figures are summed over all of them: CPU is exact, RSS of the children
//! counts shared pages once per process, which overstates nginx a little.

use std::process::Command;
use std::sync::OnceLock;

/// The processes whose resources are reported as one target's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Processes {
    pid: u32,
    with_children: bool,
}

impl Processes {
    /// The process `pid` alone (its threads included).
    pub(crate) fn single(pid: u32) -> Processes {
        Processes {
            pid,
            with_children: false,
        }
    }

    /// The process `pid` and its direct children, as found at each reading.
    pub(crate) fn with_children(pid: u32) -> Processes {
        Processes {
            pid,
            with_children: true,
        }
    }

    fn pids(self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        if self.with_children {
            pids.extend(children_of(self.pid));
        }
        pids
    }

    /// User plus system CPU seconds used so far; `None` if the process is gone.
    pub(crate) fn cpu_secs(self) -> Option<f64> {
        let mut ticks = 0_u64;
        for pid in self.pids() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, fields) = stat_fields(&stat)?;
            // Fields after the command name start at field 3 (state): utime is 14, stime 15.
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            ticks += utime + stime;
        }
        Some(ticks as f64 / clock_ticks_per_second())
    }

    /// Peak resident memory (`VmHWM`) since start or the last [`Processes::reset_peak`].
    pub(crate) fn peak_rss_bytes(self) -> Option<u64> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024)
    }

    /// Resident memory now (`VmRSS`).
    pub(crate) fn rss_bytes(self) -> Option<u64> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024)
    }

    /// Restarts the peak-RSS reading at the current RSS (`clear_refs` value 5, Linux 4.0+).
    /// Returns whether that worked for every process.
    pub(crate) fn reset_peak(self) -> bool {
        self.pids()
            .into_iter()
            .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    }

    fn status_kib(self, key: &str) -> Option<u64> {
        let mut total = 0;
        for pid in self.pids() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with(key))?;
            let kib: u64 = line
                .trim_start_matches(key)
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            total += kib;
        }
        Some(total)
    }
}

/// The fields of a `/proc/<pid>/stat` line: the command name, then fields 3 onwards. The
/// name is in parentheses and may itself contain spaces and parentheses.
fn stat_fields(stat: &str) -> Option<(&str, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let rest = stat.get(close + 1..)?;
    Some((name, rest.split_whitespace().collect()))
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, fields) = stat_fields(&stat)?;
                    fields.get(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// `sysconf(_SC_CLK_TCK)` without `unsafe`: asked of `getconf` once; 100 on Linux when
/// that fails.
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|&ticks| ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// The soft limit on open files of this process (children inherit it); `None` when
/// unlimited or unreadable.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_open_files_limit(&limits)
}

/// The soft `Max open files` of a `/proc/<pid>/limits` text.
fn soft_open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_spaces_and_parentheses_in_the_name() {
        let line = "4242 (nginx: worker (x)) S 4241 4241 0 0 -1 0 0 0 0 0 17 5 0 0";
        let (name, fields) = stat_fields(line).unwrap();
        assert_eq!(name, "nginx: worker (x)");
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "4241");
        assert_eq!(fields[11], "17");
        assert_eq!(fields[12], "5");
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = Processes::single(std::process::id());
        assert!(me.cpu_secs().unwrap() >= 0.0);
        assert!(me.rss_bytes().unwrap() > 0);
        assert!(me.peak_rss_bytes().unwrap() >= me.rss_bytes().unwrap() / 2);
    }

    #[test]
    fn reads_soft_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 20000                files     \n";
        assert_eq!(soft_open_files_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files_limit(unlimited), None);
    }
}
