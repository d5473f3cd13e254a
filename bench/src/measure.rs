//! Measuring one scenario: every repetition against every point, with the proxies' peak
//! memory, into the [`Summary`].

use std::path::Path;

use crate::load_process::run_load;
use crate::point::{points, Point};
use crate::progress::log_sample;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::summary::Summary;
use crate::target::Target;
use crate::upstream::Upstreams;

/// Every repetition of one scenario, targets interleaved so that drift on the machine
/// (thermal, other tenants) spreads over all of them alike.
pub(crate) fn measure_scenario(
    scenario: Scenario,
    points: &[Point],
    settings: Settings,
    summary: &mut Summary,
) {
    for point in points {
        if let Some(proxy) = point.proxy {
            proxy.reset_peak();
        }
    }
    for repeat in 1..=settings.repeats {
        for &point in points {
            let sample = run_load(scenario, point, settings.concurrency, settings);
            log_sample(&sample, repeat, settings);
            summary.samples.push(sample);
        }
    }
    for point in points {
        if let Some(peak) = point.proxy.and_then(|p| p.peak_rss_bytes()) {
            summary.peak_rss.push((scenario, point.kind, peak));
        }
    }
}

/// `bridge-idle`: per repetition a fresh Yardmaster (so memory freed by earlier scenarios
/// cannot hide the clients' cost), its RSS read after start and again at the end of a
/// window in which `bridge_clients` clients sit idle on its bridge.
pub(crate) fn measure_bridge_idle(
    binary: &Path,
    upstreams: &Upstreams,
    settings: Settings,
    summary: &mut Summary,
) {
    let scenario = Scenario::BridgeIdle;
    for repeat in 1..=settings.repeats {
        let target = match Target::yardmaster(binary, upstreams) {
            Ok(target) => target,
            Err(error) => {
                summary.failures.push(format!(
                    "{}: Yardmaster failed to start: {error:#}",
                    scenario.name()
                ));
                return;
            }
        };
        let Some(point) = points(scenario, std::slice::from_ref(&target)).pop() else {
            summary
                .failures
                .push(format!("{}: Yardmaster has no bridge", scenario.name()));
            return;
        };
        let idle = point.proxy.and_then(|p| p.rss_bytes());
        let mut sample = run_load(scenario, point, settings.bridge_clients, settings);
        sample.idle_rss_bytes = idle;
        log_sample(&sample, repeat, settings);
        if let Some(peak) = point.proxy.and_then(|p| p.peak_rss_bytes()) {
            summary.peak_rss.retain(|&(s, _, _)| s != scenario);
            summary.peak_rss.push((scenario, point.kind, peak));
        }
        summary.samples.push(sample);
        drop(target);
    }
}
