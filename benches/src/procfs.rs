//! What Linux says about processes and the machine (`/proc`), for the load commands: CPU time in
//! clock ticks, resident memory.

use std::process::Command;

use crate::envoy::command;

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).ok_or("no utime in /proc/<pid>/stat")?;
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).ok_or("no stime in /proc/<pid>/stat")?;
    Ok(utime + stime)
}

/// utime + stime + cutime + cstime of this process (its threads, and the children it waited
/// for: wrk), in clock ticks.
pub fn own_ticks() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (11..=14)
        .map(|i| {
            fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| String::from("no times in /proc/self/stat"))
        })
        .sum()
}

/// The whole machine's time from `/proc/stat` (all CPUs), in clock ticks: everything, and
/// everything but idle and iowait (user, nice, system, irq, softirq, steal).
#[derive(Debug, Clone, Copy)]
pub struct MachineTicks {
    pub total: u64,
    pub not_idle: u64,
    pub cpus: f64,
}

pub fn machine_ticks() -> Result<MachineTicks, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let line = stat.lines().find(|l| l.starts_with("cpu ")).ok_or("no `cpu` line in /proc/stat")?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let fields: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or_default() + fields.get(4).copied().unwrap_or_default();
    let cpus = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count().max(1);
    Ok(MachineTicks { total, not_idle: total.saturating_sub(idle), cpus: cpus as f64 })
}

/// CPU time at one moment: Envoy's, this process's (with the children it waited for: wrk) and
/// the machine's. Two of them say how much of a core other processes used in between.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub envoy: u64,
    pub own: u64,
    pub machine: MachineTicks,
}

impl Snapshot {
    /// Now, for the Envoy with process id `envoy`.
    pub fn take(envoy: u32) -> Result<Self, String> {
        Ok(Self { envoy: cpu_ticks(envoy)?, own: own_ticks()?, machine: machine_ticks()? })
    }

    /// Envoy's CPU ticks from `self` to `later`.
    pub fn envoy_ticks(&self, later: &Self) -> u64 {
        later.envoy.saturating_sub(self.envoy)
    }

    /// CPU time the machine spent from `self` to `later` on anything but Envoy, wrk and this
    /// process (other processes, steal), in percent of one core. High values mean the run was
    /// disturbed.
    pub fn other_load_pct(&self, later: &Self) -> f64 {
        // Per core: the machine's elapsed ticks are summed over its CPUs.
        let core_elapsed = later.machine.total.saturating_sub(self.machine.total) as f64 / later.machine.cpus;
        let others = later
            .machine
            .not_idle
            .saturating_sub(self.machine.not_idle)
            .saturating_sub(self.envoy_ticks(later))
            .saturating_sub(later.own.saturating_sub(self.own));
        others as f64 * 100.0 / core_elapsed.max(1.0)
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kb(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| String::from("no VmRSS in /proc/<pid>/status"))
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clock_ticks() -> Result<f64, String> {
    let out = command(Command::new("getconf").arg("CLK_TCK"))?;
    out.trim().parse().map_err(|_| format!("getconf CLK_TCK printed {out:?}"))
}
