//! The catalogue of planted secrets and innocent look-alikes the redaction tests send through the
//! harness and through real Envoy, and the plugin configuration that puts every carrier in an
//! output.

/// Every output on: the headers clients use as carriers are access-log fields and metric labels.
pub const CONFIG: &str = r#"{
  "routes": ["/api/v1/query", "/users/{id}"],
  "metrics": {"dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
                             {"name": "client", "from": {"request_header": "x-forwarded-for"}}]},
  "access_log": {"sinks": ["proxy_log", "otlp"],
    "fields": ["method", "route", "path", "status", "client_address", "user_agent", "request_id", "query_hash"],
    "extra": [{"name": "referer", "from": {"request_header": "referer"}},
              {"name": "baggage", "from": {"request_header": "baggage"}},
              {"name": "xff", "from": {"request_header": "x-forwarded-for"}},
              {"name": "tenant", "from": {"request_header": "x-tenant"}},
              {"name": "location", "from": {"response_header": "location"}}]}
}"#;

/// Where a secret goes in a request.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// The path, with `{}` where the secret goes.
    Path(&'static str),
    /// `:authority`, with `{}` where the secret goes.
    Authority(&'static str),
    /// A request header, with `{}` where the secret goes.
    Header(&'static str, &'static str),
    /// A response header, with `{}` where the secret goes.
    ResponseHeader(&'static str, &'static str),
}

/// The catalogue: each secret (the part that must not leak) and the places it is planted.
pub const PLANTED: &[(&str, &[Place])] = &[
    ("PLANTEDsess1", &[Place::Path("/api/v1/query;jsessionid={}")]),
    (
        "PLANTEDpw2",
        &[Place::Authority("admin:{}@api.example.com"), Place::Header("referer", "https://u:{}@x.example/")],
    ),
    (
        "PLANTEDtok3",
        &[
            Place::Path("/api/v1/query?token={}&q=1"),
            Place::Header("referer", "https://x.example/cb?code={}&state=ok"),
            Place::ResponseHeader("location", "https://x.example/next?access_token={}"),
        ],
    ),
    ("PLANTEDbag4", &[Place::Header("baggage", "userId=alice,user.password={}")]),
    ("PLANTEDxff5", &[Place::Header("x-forwarded-for", "203.0.113.7, {}")]),
    ("-----BEGIN PRIVATE KEY-----MIIEvPLANTED-----END PRIVATE KEY-----", &[Place::Header("x-tenant", "{}")]),
];

/// Secrets recognised by their shape wherever they appear: each is planted in every
/// [`TEXT_PLACES`] place.
pub const SHAPED: &[&str] = &[
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.c2lnbmF0dXJl",
    "4111111111111111",
    "planted@example.com",
    "AKIAIOSFODNN7PLANTED",
    "AIzaSyPLANTEDPLANTEDPLANTEDPLANTED12345",
    "ghp_PLANTEDplantedPLANTEDplantedPLANTED1",
    "xoxb-PLANTED-1234567890",
    "sk_live_PLANTEDplantedPLANTEDplanted",
];

/// Every place a client's free text reaches an output.
pub const TEXT_PLACES: &[Place] = &[
    Place::Path("/users/{}"),
    Place::Path("/api/v1/query?q={}"),
    Place::Header("user-agent", "bot/1 ({})"),
    Place::Header("x-tenant", "{}"),
    Place::Header("referer", "https://x.example/p/{}?x={}"),
    Place::Header("baggage", "k={}"),
    Place::ResponseHeader("location", "https://x.example/next/{}"),
];

/// Every planted (secret, place): the place-specific ones and each shaped secret in each text
/// place.
pub fn planted() -> Vec<(&'static str, Place)> {
    let specific = PLANTED.iter().flat_map(|(secret, places)| places.iter().map(move |p| (*secret, *p)));
    let shaped = SHAPED.iter().flat_map(|secret| TEXT_PLACES.iter().map(move |p| (*secret, *p)));
    specific.chain(shaped).collect()
}

/// Values that look a little like secrets and must come out as they went in.
pub const INNOCENT: &[(&str, Place)] = &[
    ("8b1f3c2a-9c61-4d7e-a0b5-123456789abc", Place::Header("x-tenant", "{}")),
    ("203.0.113.9", Place::Header("x-forwarded-for", "{}")),
    ("2001:db8::1", Place::Header("x-forwarded-for", "{}")),
    ("page=2", Place::Header("referer", "https://x.example/list?{}")),
    ("userId=alice", Place::Header("baggage", "{}")),
    ("color=red", Place::Path("/cars;{}")),
    ("8b123456-9c61-4d7e-a0b5-123456789012", Place::Header("x-request-id", "{}")),
    // All digits and Luhn-valid, but in an id header an id: kept whole, in the log line too.
    ("4111111111111111", Place::Header("x-request-id", "{}")),
    ("1767225600123", Place::Header("x-tenant", "{}")),
];

impl Place {
    /// The value `secret` takes in this place.
    pub fn fill(self, secret: &str) -> String {
        let template = match self {
            Place::Path(t) | Place::Authority(t) | Place::Header(_, t) | Place::ResponseHeader(_, t) => t,
        };
        template.replace("{}", secret)
    }
}
