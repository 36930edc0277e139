//! RULES.md, the table a user reads, accounts for every rule and every check.

use rstreams_core::sink::LambdaSubscriber;
use rstreams_tck::rules::{KIT_RULES, RULES};
use rstreams_tck::{
    OperatorVerification, ProcessorVerification, PublisherVerification, SubscriberVerification,
};

mod processor_support;

const RULES_MD: &str = include_str!("../RULES.md");

#[test]
fn rules_md_has_a_row_for_each_of_the_43_rules_and_the_kit_rules() {
    assert_eq!(RULES.len(), 43);
    for rule in RULES.iter().chain(KIT_RULES) {
        let row = format!("| §{} | {} | {} |", rule.id, rule.text, rule.kind);
        assert!(
            RULES_MD.contains(&row),
            "RULES.md lacks the row for §{}: {row}",
            rule.id
        );
    }
}

#[test]
fn rules_md_names_every_check() {
    let names = PublisherVerification::<u64>::check_names()
        .into_iter()
        .chain(OperatorVerification::<u64>::check_names())
        .chain(SubscriberVerification::<LambdaSubscriber<u64, fn(u64)>>::check_names())
        .chain(ProcessorVerification::<processor_support::Identity>::check_names());
    for name in names {
        assert!(
            RULES_MD.contains(&format!("`{name}`")),
            "RULES.md does not mention {name}"
        );
    }
}
