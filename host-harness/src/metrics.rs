//! The metrics registry, with Envoy's semantics for Wasm-defined metrics, and its rendering as
//! Envoy's `/stats/prometheus` renders them.
//! TEMPORARY STUB written by the lead so the crate compiles; the metrics helper replaces this file.
use crate::abi::{MetricKind, Status};
#[derive(Debug, Default)]
pub struct Registry {
    metrics: Vec<(String, MetricKind, i64)>,
}
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(i64),
    Histogram(HistogramValue),
}
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramValue {
    pub count: u64,
}
#[derive(Debug, Clone, Default)]
pub struct PrometheusConfig {
    pub stats_tags: Vec<StatsTag>,
}
#[derive(Debug, Clone)]
pub struct StatsTag {
    pub tag_name: String,
}
impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, Status> {
        if let Some(i) = self.metrics.iter().position(|m| m.0 == name) {
            return Ok(i as u32 + 1);
        }
        self.metrics.push((name.to_owned(), kind, 0));
        Ok(self.metrics.len() as u32)
    }
    pub fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        let m = self.metrics.get_mut((id as usize).wrapping_sub(1)).ok_or(Status::NotFound)?;
        m.2 += delta;
        Ok(())
    }
    pub fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        let m = self.metrics.get_mut((id as usize).wrapping_sub(1)).ok_or(Status::NotFound)?;
        m.2 = value as i64;
        Ok(())
    }
    pub fn get(&self, id: u32) -> Result<u64, Status> {
        self.metrics.get((id as usize).wrapping_sub(1)).map(|m| m.2 as u64).ok_or(Status::NotFound)
    }
    pub fn value(&self, name: &str) -> Option<MetricValue> {
        self.metrics.iter().find(|m| m.0 == name).map(|m| MetricValue::Gauge(m.2))
    }
    pub fn render_prometheus(&self, _config: &PrometheusConfig) -> String {
        self.metrics.iter().map(|m| format!("{}{{}} {}\n", m.0, m.2)).collect()
    }
}
