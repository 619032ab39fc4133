//! QoS choice for bridge subscriptions and viewer publishers.
//!
//! The subscription rule is the one `ros2 topic echo` and foxglove_bridge use, so a topic that
//! works with them works here (`../shared/reference/ros2-r2r.md` §4):
//!
//! - depth = Σ max(1, publisher depth), clamped to `min_qos_depth..=max_qos_depth` (RMWs that
//!   report depth 0, e.g. Fast DDS, count as 1; several `/tf_static` broadcasters each get room);
//! - reliable iff **every** publisher is reliable (a reliable reader cannot match a best-effort
//!   writer); topics matching `best_effort_qos_topic_whitelist` are forced best-effort;
//! - transient-local iff **every** publisher is transient-local (a transient-local reader cannot
//!   match a volatile writer), which is what lets late viewers get `/tf_static` and
//!   `/robot_description`.

use crate::config::Config;

use super::{Durability, Qos, Reliability};

/// A subscription QoS and what is worth logging about how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QosChoice {
    /// The QoS to subscribe with.
    pub qos: Qos,
    /// Human-readable notes (mixed publishers, clamped depth), for a `warn!` each.
    pub warnings: Vec<String>,
}

/// The QoS for a bridge subscription to `topic`, from the QoS of its current publishers.
///
/// With no publishers (a topic seen only through subscribers, or publishers not discovered yet)
/// the choice is reliable, volatile, depth `clamp(1)`: reliable still matches any reliable
/// publisher that appears later, and volatile never blocks a match.
pub fn subscription_qos(topic: &str, publishers: &[Qos], cfg: &Config) -> QosChoice {
    let mut warnings = Vec::new();
    let min = cfg.min_qos_depth.max(1);
    let max = cfg.max_qos_depth.max(min);

    let sum: u64 = publishers
        .iter()
        .map(|p| u64::from(p.depth.max(1)))
        .sum::<u64>()
        .max(1);
    let depth = u32::try_from(sum.clamp(u64::from(min), u64::from(max))).unwrap_or(max);
    if sum > u64::from(max) {
        warnings.push(format!(
            "{topic}: publisher history depths add up to {sum}; subscribing with \
             max_qos_depth {max}"
        ));
    }

    let reliable_count = publishers
        .iter()
        .filter(|p| p.reliability == Reliability::Reliable)
        .count();
    let forced = cfg.best_effort_qos_topic_whitelist.matches(topic);
    let reliability = if forced {
        Reliability::BestEffort
    } else if reliable_count == publishers.len() {
        Reliability::Reliable
    } else {
        if reliable_count > 0 {
            warnings.push(format!(
                "{topic}: some publishers are reliable and some are not; subscribing best-effort \
                 so that all of them match"
            ));
        }
        Reliability::BestEffort
    };

    let all_transient = !publishers.is_empty()
        && publishers
            .iter()
            .all(|p| p.durability == Durability::TransientLocal);
    let durability = if all_transient {
        Durability::TransientLocal
    } else {
        Durability::Volatile
    };

    QosChoice {
        qos: Qos {
            reliability,
            durability,
            depth,
        },
        warnings,
    }
}

/// The QoS for a publisher created on a viewer's behalf: the QoS of an existing publisher on the
/// topic (so existing subscribers, e.g. a latched `/initialpose` listener, match as they do for
/// it), else the ROS default (reliable, volatile, keep last 10). A reported depth of 0 becomes 1.
pub fn publisher_qos(existing: &[Qos]) -> Qos {
    match existing.first() {
        Some(q) => Qos {
            depth: q.depth.max(1),
            ..*q
        },
        None => Qos::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Patterns;

    fn q(reliability: Reliability, durability: Durability, depth: u32) -> Qos {
        Qos {
            reliability,
            durability,
            depth,
        }
    }
    const R: Reliability = Reliability::Reliable;
    const B: Reliability = Reliability::BestEffort;
    const T: Durability = Durability::TransientLocal;
    const V: Durability = Durability::Volatile;

    /// foxglove_bridge's depths (1 and 25), where the rule shows best.
    fn bridge() -> Config {
        Config {
            min_qos_depth: 1,
            max_qos_depth: 25,
            ..Config::default()
        }
    }

    #[test]
    fn by_default_a_reader_is_at_least_50_deep() {
        let c = subscription_qos("/imu", &[q(R, V, 10)], &Config::default());
        assert_eq!(c.qos, q(R, V, 50));
        let pubs = [q(R, V, 80), q(R, V, 80)];
        assert_eq!(
            subscription_qos("/big", &pubs, &Config::default())
                .qos
                .depth,
            100
        );
    }

    #[test]
    fn no_publishers_gives_reliable_volatile_min_depth() {
        let c = subscription_qos("/x", &[], &bridge());
        assert_eq!(c.qos, q(R, V, 1));
        assert!(c.warnings.is_empty());
        let cfg = Config {
            min_qos_depth: 5,
            ..bridge()
        };
        assert_eq!(subscription_qos("/x", &[], &cfg).qos.depth, 5);
    }

    #[test]
    fn single_reliable_publisher_is_mirrored() {
        let c = subscription_qos("/odom", &[q(R, V, 10)], &bridge());
        assert_eq!(c.qos, q(R, V, 10));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn depths_sum_with_zero_counted_as_one_and_clamp() {
        let cfg = bridge();
        let pubs = [q(R, T, 1), q(R, T, 0), q(R, T, 0)];
        let c = subscription_qos("/tf_static", &pubs, &cfg);
        assert_eq!(c.qos, q(R, T, 3), "three static broadcasters, latched");
        let pubs = [q(R, V, 20), q(R, V, 20)];
        let c = subscription_qos("/big", &pubs, &cfg);
        assert_eq!(c.qos.depth, 25);
        assert_eq!(c.warnings.len(), 1);
        let cfg = Config {
            min_qos_depth: 4,
            ..bridge()
        };
        assert_eq!(subscription_qos("/s", &[q(R, V, 1)], &cfg).qos.depth, 4);
    }

    #[test]
    fn mixed_reliability_goes_best_effort_with_warning() {
        let c = subscription_qos("/m", &[q(R, V, 1), q(B, V, 1)], &bridge());
        assert_eq!(c.qos.reliability, B);
        assert_eq!(c.warnings.len(), 1);
        let c = subscription_qos("/b", &[q(B, V, 5)], &bridge());
        assert_eq!(c.qos.reliability, B);
        assert!(c.warnings.is_empty(), "all best-effort is not mixed");
    }

    #[test]
    fn unknown_reliability_is_not_reliable() {
        let c = subscription_qos(
            "/u",
            &[q(Reliability::Unknown, Durability::Unknown, 1)],
            &bridge(),
        );
        assert_eq!(c.qos, q(B, V, 1));
    }

    #[test]
    fn transient_local_only_if_all_are() {
        let c = subscription_qos("/d", &[q(R, T, 1), q(R, V, 1)], &bridge());
        assert_eq!(c.qos.durability, V);
        let c = subscription_qos("/robot_description", &[q(R, T, 1)], &bridge());
        assert_eq!(c.qos.durability, T);
    }

    #[test]
    fn forced_best_effort_list() {
        let cfg = Config {
            best_effort_qos_topic_whitelist: Patterns::new("b", &["/camera/.*"]).unwrap(),
            ..bridge()
        };
        let c = subscription_qos("/camera/image", &[q(R, V, 1)], &cfg);
        assert_eq!(c.qos.reliability, B);
        assert!(c.warnings.is_empty());
        let c = subscription_qos("/other", &[q(R, V, 1)], &cfg);
        assert_eq!(c.qos.reliability, R);
    }

    #[test]
    fn publisher_copies_existing_else_default() {
        assert_eq!(publisher_qos(&[]), Qos::default());
        assert_eq!(publisher_qos(&[q(B, T, 3), q(R, V, 9)]), q(B, T, 3));
        assert_eq!(publisher_qos(&[q(R, T, 0)]), q(R, T, 1));
    }
}
