//! The decision "is this callsite logged?", made once per callsite from its
//! level and target, so a disabled event is never built or formatted.

use tracing::level_filters::LevelFilter;
use tracing::Level;

use super::namespace::{namespace, DebugSpec};

/// Levels that `DEBUG=…` turns on for a namespace: everything but TRACE,
/// which is per-packet noise in ant-quic and would flood stderr. TRACE
/// reaches only loggers that ask for it.
const DEBUG_SINK_LEVEL: LevelFilter = LevelFilter::DEBUG;

/// What JavaScript wants logged right now, process-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The `debug` package's setting, for the stderr sink.
    debug: DebugSpec,
    /// The most verbose level any open agent's logger takes, all targets.
    logger: LevelFilter,
}

impl Filter {
    /// Nothing enabled: the state before JavaScript says otherwise.
    pub const OFF: Filter = Filter { debug: DebugSpec::OFF, logger: LevelFilter::OFF };

    pub fn new(debug: DebugSpec, logger: LevelFilter) -> Self {
        Self { debug, logger }
    }

    /// Whether an event at `level` from `target` goes anywhere.
    pub fn wants(&self, level: &Level, target: &str) -> bool {
        if *level <= self.logger {
            return true;
        }
        *level <= DEBUG_SINK_LEVEL && !self.debug.is_off() && self.debug.enabled(&namespace(target))
    }

    /// The most verbose level [`Filter::wants`] can accept; tracing skips
    /// every event above it with one comparison, before any callsite lookup.
    pub fn max_level(&self) -> LevelFilter {
        let debug = if self.debug.is_off() { LevelFilter::OFF } else { DEBUG_SINK_LEVEL };
        self.logger.max(debug)
    }
}

/// Parses a logger level as the TypeScript `LogLevel` names it; `None`
/// (no logger) and unknown names log nothing.
pub fn logger_level(name: Option<&str>) -> LevelFilter {
    match name {
        Some("error") => LevelFilter::ERROR,
        Some("warn") => LevelFilter::WARN,
        Some("info") => LevelFilter::INFO,
        Some("debug") => LevelFilter::DEBUG,
        Some("trace") => LevelFilter::TRACE,
        _ => LevelFilter::OFF,
    }
}

/// The TypeScript `LogLevel` of a tracing level.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_wants_nothing() {
        assert!(!Filter::OFF.wants(&Level::ERROR, "x0x_core::agent"));
        assert_eq!(Filter::OFF.max_level(), LevelFilter::OFF);
    }

    #[test]
    fn debug_turns_on_its_namespaces_up_to_debug_level() {
        let f = Filter::new(DebugSpec::parse("x0x:membership"), LevelFilter::OFF);
        assert!(f.wants(&Level::DEBUG, "saorsa_gossip_membership"));
        assert!(f.wants(&Level::WARN, "saorsa_gossip_membership::swim"));
        assert!(!f.wants(&Level::TRACE, "saorsa_gossip_membership"));
        assert!(!f.wants(&Level::ERROR, "saorsa_gossip_pubsub"));
        assert!(!f.wants(&Level::ERROR, "ant_quic::endpoint"));
        assert_eq!(f.max_level(), LevelFilter::DEBUG);
    }

    #[test]
    fn a_logger_takes_every_target_up_to_its_level() {
        let f = Filter::new(DebugSpec::OFF, logger_level(Some("info")));
        assert!(f.wants(&Level::INFO, "ant_quic::endpoint"));
        assert!(f.wants(&Level::ERROR, "anything"));
        assert!(!f.wants(&Level::DEBUG, "saorsa_gossip_membership"));
        assert_eq!(f.max_level(), LevelFilter::INFO);

        let both = Filter::new(DebugSpec::parse("x0x:pubsub"), logger_level(Some("warn")));
        assert!(both.wants(&Level::DEBUG, "saorsa_gossip_pubsub"));
        assert!(both.wants(&Level::WARN, "ant_quic"));
        assert!(!both.wants(&Level::INFO, "ant_quic"));
        assert_eq!(both.max_level(), LevelFilter::DEBUG);

        let trace = Filter::new(DebugSpec::OFF, logger_level(Some("trace")));
        assert!(trace.wants(&Level::TRACE, "ant_quic"));
        assert_eq!(trace.max_level(), LevelFilter::TRACE);
    }

    #[test]
    fn unknown_logger_levels_log_nothing() {
        assert_eq!(logger_level(None), LevelFilter::OFF);
        assert_eq!(logger_level(Some("verbose")), LevelFilter::OFF);
    }

    #[test]
    fn level_names_are_the_typescript_ones() {
        let names: Vec<_> =
            [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE].iter().map(level_name).collect();
        assert_eq!(names, ["error", "warn", "info", "debug", "trace"]);
    }
}
