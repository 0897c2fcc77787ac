//! What became of an instance's gateway when the supervisor started, in
//! words: `status NAME`'s `at start` line and the table's mark. Pure.

use openclaw_supervisor::protocol::{AdoptionStatus, InstanceStatus};

/// The mark after an adopted gateway's uptime in the table.
pub(super) const MARK: &str = "*";

/// `adopted 3m00s ago (pid 1234)`, `restarted: no record` or `restarted:
/// record did not match (REASON)`; `ago` puts a time in words. None for a
/// newer daemon's kind this client does not know.
pub(super) fn adoption_text(
    adoption: &AdoptionStatus,
    ago: impl FnOnce(u64) -> String,
) -> Option<String> {
    match adoption {
        AdoptionStatus::Adopted { at, pid } => Some(format!("adopted {} (pid {pid})", ago(*at))),
        AdoptionStatus::NoRecord => Some(String::from("restarted: no record")),
        AdoptionStatus::RecordDidNotMatch { reason } => {
            Some(format!("restarted: record did not match ({reason})"))
        }
        AdoptionStatus::Other => None,
    }
}

/// Whether the gateway running now is the one adopted at start (its uptime
/// spans a supervisor restart): a later restart's gateway is not.
pub(super) fn runs_adopted(instance: &InstanceStatus) -> bool {
    matches!(
        (&instance.adoption, instance.pid),
        (Some(AdoptionStatus::Adopted { pid, .. }), Some(running)) if *pid == running
    )
}

/// The table's note for its mark, when a row carries it.
pub(super) fn legend(instances: &[InstanceStatus]) -> Option<String> {
    instances.iter().any(runs_adopted).then(|| {
        format!(
            "{MARK} adopted: the gateway outlived the supervisor that started it (its uptime counts from its spawn)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Paint, View, detail, table};
    use super::*;

    /// main, adopted at 0 (its pid 4242 still runs), and a rescue started
    /// anew.
    fn adopted_main_and_a_fresh_rescue() -> Vec<InstanceStatus> {
        let mut main = crate::cli::client::fixture::instance("main");
        main.adoption = Some(AdoptionStatus::Adopted { at: 0, pid: 4242 });
        let mut rescue = crate::cli::client::fixture::instance("rescue");
        rescue.role = openclaw_supervisor::protocol::Role::Rescue;
        rescue.pid = Some(4343);
        rescue.uptime_secs = Some(42);
        rescue.adoption = Some(AdoptionStatus::NoRecord);
        vec![main, rescue]
    }

    #[test]
    fn status_name_says_what_became_of_the_gateway_at_start() {
        let [main, rescue] = <[InstanceStatus; 2]>::try_from(adopted_main_and_a_fresh_rescue())
            .expect("two instances");
        let mut mismatched = rescue.clone();
        mismatched.adoption = Some(AdoptionStatus::RecordDidNotMatch {
            reason: String::from("its keeper does not answer (connection refused)"),
        });
        let mut newer = rescue.clone();
        newer.adoption = Some(AdoptionStatus::Other);
        let rows = [
            (main, Some("  at start     adopted 3m00s ago (pid 4242)\n")),
            (rescue, Some("  at start     restarted: no record\n")),
            (
                mismatched,
                Some(
                    "  at start     restarted: record did not match (its keeper does not answer (connection refused))\n",
                ),
            ),
            (newer, None),
            (crate::cli::client::fixture::instance("added"), None),
        ];
        for (instance, expected) in rows {
            let text = detail(&instance, Paint::plain(), 180_000);
            match expected {
                Some(line) => assert!(text.contains(line), "missing {line:?} in\n{text}"),
                None => assert!(!text.contains("at start"), "{text}"),
            }
        }
    }

    #[test]
    fn the_table_marks_the_uptime_of_an_adopted_gateway() {
        let instances = adopted_main_and_a_fresh_rescue();
        let text = table(&instances, &[], View::Status, Paint::plain(), 180_000, 120);
        let expected = "\
NAME    ROLE    STATE    PID   UPTIME  RESTARTS  HEALTH  PORT   CPU   MEM
main    main    running  4242  1h01m*  1         -       18789  2.2%  150MiB
rescue  rescue  running  4343  42s     1         -       18789  2.2%  150MiB
* adopted: the gateway outlived the supervisor that started it (its uptime counts from its spawn)
";
        assert_eq!(text, expected);
        let watch = table(&instances, &[], View::Watch, Paint::plain(), 180_000, 80);
        assert!(watch.contains("1h01m*"), "{watch}");
        assert!(watch.contains("* adopted:"), "{watch}");
        // Restarted since: no mark, no legend.
        let mut restarted = instances;
        restarted[0].pid = Some(5000);
        let text = table(&restarted, &[], View::Status, Paint::plain(), 180_000, 120);
        assert!(!text.contains('*'), "{text}");
    }

    #[test]
    fn what_became_of_the_gateway_at_start_in_words() {
        let ago = |at: u64| format!("{}s ago", 200 - at);
        let rows = [
            (
                AdoptionStatus::Adopted { at: 20, pid: 1234 },
                Some("adopted 180s ago (pid 1234)"),
            ),
            (AdoptionStatus::NoRecord, Some("restarted: no record")),
            (
                AdoptionStatus::RecordDidNotMatch {
                    reason: String::from("its keeper does not answer (connection refused)"),
                },
                Some(
                    "restarted: record did not match (its keeper does not answer (connection refused))",
                ),
            ),
            (AdoptionStatus::Other, None),
        ];
        for (adoption, expected) in rows {
            assert_eq!(
                adoption_text(&adoption, ago).as_deref(),
                expected,
                "{adoption:?}"
            );
        }
    }

    #[test]
    fn only_the_adopted_gateway_itself_is_marked() {
        let status = |adoption: Option<AdoptionStatus>, pid: Option<u32>| InstanceStatus {
            adoption,
            pid,
            ..InstanceStatus::default()
        };
        let adopted = || Some(AdoptionStatus::Adopted { at: 0, pid: 1234 });
        let rows = [
            (status(adopted(), Some(1234)), true),
            // Restarted since: a gateway of this supervisor's.
            (status(adopted(), Some(5678)), false),
            (status(adopted(), None), false),
            (status(Some(AdoptionStatus::NoRecord), Some(1234)), false),
            (status(None, Some(1234)), false),
        ];
        for (instance, expected) in rows {
            assert_eq!(runs_adopted(&instance), expected, "{instance:?}");
        }
    }
}
