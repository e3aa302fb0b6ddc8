//! Which `debug` namespace a Rust `tracing` target logs under, and whether
//! a `DEBUG` setting turns that namespace on.
//!
//! | tracing target                     | namespace               |
//! |------------------------------------|-------------------------|
//! | `x0x_core` (crate root)            | `x0x:core`              |
//! | `x0x_core::<module>::…`            | `x0x:core:<module>`     |
//! | `saorsa_gossip_membership::…`      | `x0x:membership`        |
//! | `saorsa_gossip_pubsub::…`          | `x0x:pubsub`            |
//! | `saorsa_gossip_transport::…`       | `x0x:transport`         |
//! | `ant_quic::…`                      | `x0x:transport`         |
//! | `saorsa_gossip_<name>::…`          | `x0x:gossip:<name>`     |
//! | any other `<crate>::…`             | `x0x:deps:<crate>`      |
//!
//! The membership, pub/sub and transport namespaces are the ones the
//! TypeScript side logs under too, so `DEBUG=x0x:membership` shows both
//! halves of a join.

/// The namespace of `target` (see the module table).
pub fn namespace(target: &str) -> String {
    let mut path = target.split("::");
    let krate = path.next().unwrap_or_default();
    match krate {
        "x0x_core" => match path.next() {
            Some(module) => format!("x0x:core:{module}"),
            None => "x0x:core".to_owned(),
        },
        "saorsa_gossip_membership" => "x0x:membership".to_owned(),
        "saorsa_gossip_pubsub" => "x0x:pubsub".to_owned(),
        "saorsa_gossip_transport" | "ant_quic" => "x0x:transport".to_owned(),
        _ => match krate.strip_prefix("saorsa_gossip_") {
            Some(name) => format!("x0x:gossip:{name}"),
            None => format!("x0x:deps:{krate}"),
        },
    }
}

/// A parsed `DEBUG` setting: the names it turns on and the ones it turns
/// off (`-name`), as the `debug` package's `enable()` splits them. The
/// TypeScript side sends the package's own parsed lists, so Rust and
/// `debug` agree on every namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DebugSpec {
    names: Vec<String>,
    skips: Vec<String>,
}

impl DebugSpec {
    /// Turns nothing on.
    pub const OFF: DebugSpec = DebugSpec { names: Vec::new(), skips: Vec::new() };

    /// From the `debug` package's `names` and `skips` lists.
    pub fn new(names: Vec<String>, skips: Vec<String>) -> Self {
        Self { names, skips }
    }

    /// Parses a `DEBUG` value the way `debug`'s `enable()` does: names
    /// separated by commas or whitespace, a leading `-` excludes.
    #[cfg(test)]
    pub fn parse(spec: &str) -> Self {
        let mut out = Self::default();
        for part in spec.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
            match part.strip_prefix('-') {
                Some(skip) => out.skips.push(skip.to_owned()),
                None => out.names.push(part.to_owned()),
            }
        }
        out
    }

    /// Whether nothing can be enabled, whatever the namespace.
    pub fn is_off(&self) -> bool {
        self.names.is_empty()
    }

    /// `debug`'s `enabled(namespace)`: no skip matches and some name does.
    pub fn enabled(&self, namespace: &str) -> bool {
        !self.skips.iter().any(|t| matches_template(namespace, t))
            && self.names.iter().any(|t| matches_template(namespace, t))
    }
}

/// `debug`'s `matchesTemplate`: `*` matches any run of characters,
/// everything else matches itself. Same backtracking algorithm, so the two
/// agree on odd templates such as `x0x*:*`.
fn matches_template(search: &str, template: &str) -> bool {
    let search = search.as_bytes();
    let template = template.as_bytes();
    let (mut s, mut t) = (0, 0);
    let mut star: Option<usize> = None;
    let mut resume = 0;
    while s < search.len() {
        if t < template.len() && template[t] == b'*' {
            star = Some(t);
            resume = s;
            t += 1;
        } else if t < template.len() && template[t] == search[s] {
            s += 1;
            t += 1;
        } else if let Some(st) = star {
            t = st + 1;
            resume += 1;
            s = resume;
        } else {
            return false;
        }
    }
    while t < template.len() && template[t] == b'*' {
        t += 1;
    }
    t == template.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_documented_namespaces() {
        assert_eq!(namespace("x0x_core"), "x0x:core");
        assert_eq!(namespace("x0x_core::membership_watch"), "x0x:core:membership_watch");
        assert_eq!(namespace("x0x_core::presence::driver"), "x0x:core:presence");
        assert_eq!(namespace("saorsa_gossip_membership"), "x0x:membership");
        assert_eq!(namespace("saorsa_gossip_pubsub::plumtree"), "x0x:pubsub");
        assert_eq!(namespace("saorsa_gossip_transport"), "x0x:transport");
        assert_eq!(namespace("ant_quic::connection::streams"), "x0x:transport");
        assert_eq!(namespace("saorsa_gossip_identity"), "x0x:gossip:identity");
        assert_eq!(namespace("rustls::client"), "x0x:deps:rustls");
        assert_eq!(namespace(""), "x0x:deps:");
    }

    #[test]
    fn debug_spec_matches_like_the_debug_package() {
        let all = DebugSpec::parse("x0x*");
        assert!(all.enabled("x0x:membership"));
        assert!(all.enabled("x0x:core:agent"));
        assert!(!all.enabled("libp2p:dht"));

        let one = DebugSpec::parse("x0x:membership");
        assert!(one.enabled("x0x:membership"));
        assert!(!one.enabled("x0x:membership:extra"));
        assert!(!one.enabled("x0x:pubsub"));

        let core = DebugSpec::parse("x0x:core:*");
        assert!(core.enabled("x0x:core:agent"));
        assert!(!core.enabled("x0x:core"));

        let but = DebugSpec::parse("x0x:*, -x0x:transport  other");
        assert!(but.enabled("x0x:pubsub"));
        assert!(!but.enabled("x0x:transport"));
        assert!(but.enabled("other"));

        assert!(DebugSpec::parse("x0x*:*").enabled("x0x:a:b"));
        assert!(DebugSpec::parse("*").enabled("x0x:deps:rustls"));
        assert!(DebugSpec::parse("").is_off());
        assert!(DebugSpec::parse(" , ").is_off());
        assert!(!DebugSpec::parse("-x0x:*").enabled("x0x:pubsub"));
    }
}
