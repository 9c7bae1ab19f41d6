//! Catalog consistency: keywords, unique parameters, slots, defaults.

use super::*;

#[test]
fn every_kind_round_trips_its_keyword_in_any_case() {
    for k in ALL_KINDS {
        assert_eq!(Kind::from_keyword(&k.keyword().to_ascii_uppercase()), Some(k));
    }
}

#[test]
fn parameter_names_are_unique_per_statement() {
    for k in ALL_KINDS {
        let mut names: Vec<String> = k.params().iter().map(|p| p.name.to_ascii_lowercase()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{k}");
    }
}

#[test]
fn a_keyword_has_one_default_and_it_is_a_valid_value() {
    for k in ALL_KINDS {
        for param in k.params() {
            let Some(d) = param.default else { continue };
            assert_eq!(default_of(param.name), Some(d), "{k} {}", param.name);
            let valid = match param.ty {
                OnOff => d == "On" || d == "Off",
                Int(lo, hi) => d.parse::<u64>().is_ok_and(|n| (lo..=hi).contains(&n)),
                Enum(words) => words.contains(&d),
                Groups => d == "Any",
                _ => false,
            };
            assert!(valid, "{k} {} default {d}", param.name);
        }
    }
}

#[test]
fn refs_share_the_slot_of_their_inline_block() {
    for k in ALL_KINDS {
        for (child, ref_kw) in k.children() {
            let r = k.param(ref_kw).unwrap_or_else(|| panic!("{k} lacks {ref_kw}"));
            assert_eq!(r.ty, ValueType::Ref(*child));
            if !k.children_are_members() {
                assert_eq!(r.slot, Some(child.keyword()), "{k} {ref_kw}");
            }
        }
    }
}
