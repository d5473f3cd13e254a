//! [`Machine`]: what the run was measured on, read from `/proc` and the toolchain.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine and the moment of a run, as the report's header describes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub(crate) cpu_model: String,
    /// CPUs this process may run on (affinity and cgroup limits included).
    pub(crate) cores: usize,
    /// CPUs the kernel has online (`processor` entries in `/proc/cpuinfo`).
    pub(crate) online_cpus: usize,
    /// `MemTotal` of `/proc/meminfo`, bytes.
    pub(crate) memory_bytes: Option<u64>,
    /// Kernel release (`uname -r`).
    pub(crate) kernel: String,
    /// `rustc --version` of the toolchain on `PATH` (the one that built the binaries).
    pub(crate) rustc: String,
    /// 1, 5 and 15 minute load averages when the run started.
    pub(crate) load_before: String,
    /// When the run started, UTC.
    pub(crate) started: String,
}

impl Machine {
    /// Reads the description of this machine.
    pub(crate) fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| release.trim().to_owned())
            .unwrap_or_else(|_| "unknown kernel".to_owned());
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let rustc = Command::new(rustc)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "rustc not found".to_owned());
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or_else(|_| "unknown time".to_owned(), |d| utc_minute(d.as_secs()));
        Machine {
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".to_owned()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            online_cpus: cpuinfo
                .lines()
                .filter(|line| line.starts_with("processor"))
                .count(),
            memory_bytes: mem_total_bytes(&meminfo),
            kernel,
            rustc,
            load_before: load_average().unwrap_or_else(|| "unknown".to_owned()),
            started,
        }
    }
}

/// The 1, 5 and 15 minute load averages now, as `/proc/loadavg` prints them.
pub(crate) fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    parse_load_average(&text)
}

fn parse_load_average(text: &str) -> Option<String> {
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// The first `model name` (x86) or `Model`/`Hardware` (ARM) of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu model"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == *key).then(|| value.trim().to_owned())
            })
        })
        .filter(|model| !model.is_empty())
}

fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `YYYY-MM-DD HH:MM UTC` of a UNIX time (Howard Hinnant's days-to-civil algorithm).
fn utc_minute(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    // Days since 0000-03-01, so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_model_name_of_cpuinfo() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 49\n\
                       model name\t: AMD EPYC 7B12\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B12\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B12"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
        assert_eq!(
            cpu_model("Hardware\t: BCM2835\n").as_deref(),
            Some("BCM2835")
        );
    }

    #[test]
    fn reads_three_load_averages_and_total_memory() {
        assert_eq!(
            parse_load_average("0.25 0.18 0.07 1/85 13880\n").as_deref(),
            Some("0.25 0.18 0.07")
        );
        assert_eq!(parse_load_average("0.25\n"), None);
        assert_eq!(
            mem_total_bytes("MemTotal:        4030236 kB\nMemFree: 1 kB\n"),
            Some(4_030_236 * 1024)
        );
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn formats_unix_time_as_utc_minute() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13 UTC");
        // 2024-02-29 12:34:56, a leap day.
        assert_eq!(utc_minute(1_709_210_096), "2024-02-29 12:34 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
    }
}
