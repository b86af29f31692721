//! Envoy properties (attributes) for `proxy_get_property`, with Envoy's names and encodings.
//! TEMPORARY STUB written by the lead so the crate compiles; the properties helper replaces this file.
use crate::abi::Status;
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Bytes(Vec<u8>),
    Int(i64),
    Uint(u64),
    Double(f64),
    Bool(bool),
    Timestamp(i64),
    Duration(i64),
    Map(Vec<(String, String)>),
    List(Vec<String>),
}
pub struct Facts<'a> {
    pub plugin_name: &'a str,
    pub plugin_root_id: &'a str,
    pub plugin_vm_id: &'a str,
    pub stream: Option<StreamFacts<'a>>,
}
pub struct StreamFacts<'a> {
    pub context_id: u32,
    pub request_headers: &'a [(String, String)],
    pub response_headers: Option<&'a [(String, String)]>,
    pub response_trailers: Option<&'a [(String, String)]>,
    pub request_start_nanos: i64,
    pub now_nanos: i64,
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    pub response_code: Option<u16>,
    pub response_code_details: Option<&'a str>,
    pub complete: bool,
    pub protocol: &'a str,
}
#[derive(Debug, Clone, Default)]
pub struct Properties {
    values: Vec<(Vec<String>, Value)>,
}
impl Value {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Int(i) => i.to_le_bytes().to_vec(),
            Value::Uint(u) => u.to_le_bytes().to_vec(),
            _ => Vec::new(),
        }
    }
}
impl Properties {
    pub fn envoy_defaults() -> Self {
        Self::default()
    }
    pub fn set(&mut self, path: &[&str], value: Value) {
        self.values.push((path.iter().map(|s| s.to_string()).collect(), value));
    }
    pub fn unset(&mut self, path: &[&str]) {
        self.values.retain(|(p, _)| p != path);
    }
    pub fn get(&self, path: &[&str], facts: &Facts<'_>) -> Result<Vec<u8>, Status> {
        if let Some((_, v)) = self.values.iter().rev().find(|(p, _)| p == path) {
            return Ok(v.encode());
        }
        match (path, &facts.stream) {
            (["response", "code"], Some(s)) => {
                s.response_code.map(|c| (c as i64).to_le_bytes().to_vec()).ok_or(Status::NotFound)
            }
            (["source", "address"], _) => Ok(b"127.0.0.1:40000".to_vec()),
            (["request", "protocol"], _) => Ok(b"HTTP/1.1".to_vec()),
            _ => Err(Status::NotFound),
        }
    }
    pub fn set_by_guest(&mut self, path: &[&str], value: &[u8]) -> Result<(), Status> {
        self.set(path, Value::Bytes(value.to_vec()));
        Ok(())
    }
}
