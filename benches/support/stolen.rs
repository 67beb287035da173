//! CPU time the host took from this virtual machine ("steal" in `/proc/stat`):
//! while the host runs other machines on our cores, every process here stalls at
//! once, and a latency figure taken then measures the host, not the server.

/// The machine's CPU times, all and stolen (clock ticks, every core).
#[derive(Clone, Copy)]
pub struct CpuTimes {
    all: u64,
    stolen: u64,
}

impl CpuTimes {
    /// Now, from `/proc/stat`; `None` where there is none (not Linux).
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
        let times: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map_while(|t| t.parse().ok())
            .collect();
        Some(CpuTimes {
            all: times.iter().take(8).sum(),
            stolen: *times.get(7)?,
        })
    }

    /// The share of the CPU time since `earlier` that the host took, in percent.
    pub fn stolen_since(&self, earlier: &CpuTimes) -> f64 {
        let all = self.all.saturating_sub(earlier.all).max(1);
        self.stolen.saturating_sub(earlier.stolen) as f64 * 100.0 / all as f64
    }
}
