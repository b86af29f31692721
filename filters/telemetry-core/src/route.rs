//! Route templates: turning a raw request path into a low-cardinality route name.
//!
//! A raw path is never used as a label or a span name (`/users/42` and `/users/43` would be two
//! series); instead each request is matched against configured templates, in order:
//! - exact: `/api/v1/query`
//! - template: `/users/{id}/orders/{order}`, where `{name}` matches exactly one non-empty segment
//! - prefix: `/static/*`, where a final `*` matches one or more remaining segments
//!
//! The first template that matches wins; no match means "no route" (`other` in metrics, and no
//! `http.route` span attribute, as the HTTP semantic conventions ask for low-cardinality values only).

use std::fmt;

/// The compiled, ordered list of route templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// Index of a route in its [`RouteTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId(pub usize);

/// Why a route template was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotAbsolute,
    EmptySegment,
    BadPlaceholder,
    WildcardNotLast,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    template: String,
    segments: Vec<Segment>,
    /// Every segment is a literal: the route matches exactly the path equal to its template.
    literal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

impl RouteTable {
    /// Compiles `templates` in order. Errors carry the index of the bad template.
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Result<Self, (usize, RouteError)> {
        let mut routes: Vec<Route> = Vec::new();
        for (index, template) in templates.into_iter().enumerate() {
            let route = Route::parse(template).map_err(|e| (index, e))?;
            if routes.iter().any(|r| r.template == route.template) {
                return Err((index, RouteError::Duplicate));
            }
            routes.push(route);
        }
        Ok(Self { routes })
    }

    /// The first route matching `path` (which must already be stripped of its query string).
    pub fn find(&self, path: &str) -> Option<RouteId> {
        self.routes.iter().position(|r| r.matches(path)).map(RouteId)
    }

    /// The template text of a route, as configured (used as the `http.route` value).
    pub fn template(&self, id: RouteId) -> Option<&str> {
        self.routes.get(id.0).map(|r| r.template.as_str())
    }

    /// The id of a configured template, by its exact text.
    pub fn id_of(&self, template: &str) -> Option<RouteId> {
        self.routes.iter().position(|r| r.template == template).map(RouteId)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route is configured.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// The query string of `path`, after its `?` and as received (a fragment after it included);
/// `None` when there is none or it is empty.
pub fn query(path: &str) -> Option<&str> {
    path.get(strip_query(path).len()..).and_then(|q| q.strip_prefix('?')).filter(|q| !q.is_empty())
}

/// `path` without its query string or fragment.
pub fn strip_query(path: &str) -> &str {
    // A byte scan: `str::find` with a char set walks chars through a generic searcher.
    let end = path.bytes().position(|b| b == b'?' || b == b'#').unwrap_or(path.len());
    path.get(..end).unwrap_or(path)
}

impl Route {
    fn parse(template: &str) -> Result<Self, RouteError> {
        let rest = template.strip_prefix('/').ok_or(RouteError::NotAbsolute)?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            let last = parts.len() - 1;
            for (i, part) in parts.into_iter().enumerate() {
                let segment = match part {
                    "" => return Err(RouteError::EmptySegment),
                    "*" if i == last => Segment::Rest,
                    "*" => return Err(RouteError::WildcardNotLast),
                    p if p.starts_with('{') || p.ends_with('}') => {
                        let name = p.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
                        match name {
                            Some(n) if !n.is_empty() && !n.contains(['{', '}']) => Segment::Param,
                            _ => return Err(RouteError::BadPlaceholder),
                        }
                    }
                    p if p.contains(['{', '}']) => return Err(RouteError::BadPlaceholder),
                    p => Segment::Literal(p.to_owned()),
                };
                segments.push(segment);
            }
        }
        let literal = segments.iter().all(|s| matches!(s, Segment::Literal(_)));
        Ok(Self { template: template.to_owned(), segments, literal })
    }

    fn matches(&self, path: &str) -> bool {
        if self.literal {
            // Segment by segment would compare the same bytes, the slashes included.
            return path == self.template;
        }
        let Some(rest) = path.strip_prefix('/') else { return false };
        if self.segments.is_empty() {
            return rest.is_empty();
        }
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let Some(part) = parts.next() else { return false };
            match segment {
                Segment::Literal(l) if l == part => {}
                Segment::Param if !part.is_empty() => {}
                Segment::Rest => return !part.is_empty(),
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "must start with `/`",
            Self::EmptySegment => "has an empty segment (`//` or a trailing `/`)",
            Self::BadPlaceholder => "has a malformed placeholder: use `{name}` as a whole segment",
            Self::WildcardNotLast => "may use `*` only as the last segment",
            Self::Duplicate => "is listed twice",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> RouteTable {
        RouteTable::new(["/", "/api/v1/query", "/users/{id}", "/users/{id}/orders/{order}", "/static/*"]).unwrap()
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let t = table();
        t.find(path).and_then(|id| t.template(id)).map(|s| Box::leak(s.to_owned().into_boxed_str()) as &str)
    }

    #[test]
    fn matches_exact_template_and_prefix_in_order() {
        assert_eq!(route_of("/"), Some("/"));
        assert_eq!(route_of("/api/v1/query"), Some("/api/v1/query"));
        assert_eq!(route_of("/users/42"), Some("/users/{id}"));
        assert_eq!(route_of("/users/42/orders/7"), Some("/users/{id}/orders/{order}"));
        assert_eq!(route_of("/static/css/site.css"), Some("/static/*"));
        assert_eq!(route_of("/static/x"), Some("/static/*"));
    }

    #[test]
    fn unmatched_paths_have_no_route() {
        for path in ["/api/v1/query/extra", "/users", "/users/", "/users/42/orders", "/static", "/static/", "", "x"] {
            assert_eq!(route_of(path), None, "{path}");
        }
    }

    #[test]
    fn rejects_bad_templates_with_a_reason() {
        assert_eq!(RouteTable::new(["api"]), Err((0, RouteError::NotAbsolute)));
        assert_eq!(RouteTable::new(["/a", "/a//b"]), Err((1, RouteError::EmptySegment)));
        assert_eq!(RouteTable::new(["/a/"]), Err((0, RouteError::EmptySegment)));
        assert_eq!(RouteTable::new(["/a/{}"]), Err((0, RouteError::BadPlaceholder)));
        assert_eq!(RouteTable::new(["/a/x{id}"]), Err((0, RouteError::BadPlaceholder)));
        assert_eq!(RouteTable::new(["/*/a"]), Err((0, RouteError::WildcardNotLast)));
        assert_eq!(RouteTable::new(["/a", "/a"]), Err((1, RouteError::Duplicate)));
    }

    #[test]
    fn strips_query_and_fragment() {
        assert_eq!(strip_query("/a/b?x=1&y=2"), "/a/b");
        assert_eq!(strip_query("/a#frag"), "/a");
        assert_eq!(strip_query("/a"), "/a");
    }

    proptest! {
        #[test]
        fn a_matched_route_is_never_the_raw_path_of_a_param(id in "[a-z0-9]{1,12}") {
            let path = format!("/users/{id}");
            prop_assert_eq!(route_of(&path), Some("/users/{id}"));
        }

        #[test]
        fn a_literal_route_matches_as_its_segments_would(template in "(/[ab]{1,2}){0,3}", path in "[/ab]{0,8}") {
            let template = if template.is_empty() { String::from("/") } else { template };
            let route = Route::parse(&template).unwrap();
            prop_assert!(route.literal);
            let by_segments = Route { literal: false, ..route.clone() };
            prop_assert_eq!(route.matches(&path), by_segments.matches(&path), "{} against {}", template, path);
        }

        #[test]
        fn find_never_panics(path in ".{0,64}") {
            let _ = table().find(&path);
        }
    }
}
