use super::*;

#[test]
fn labels_are_the_ones_on_the_wire_and_parse_back() {
    let statuses: Vec<&str> = HashStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(statuses, ["valid", "missing", "mismatch", "exempt", "injected"]);
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(categories, ["constitutional", "consensus", "database", "external_api", "auth", "health", "other"]);
    let levels: Vec<&str> = Compliance::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(levels, ["compliant", "non_compliant", "exempt"]);
    for status in HashStatus::ALL {
        assert_eq!(status.as_str().parse::<HashStatus>(), Ok(status));
        assert_eq!(status.to_string(), status.as_str());
    }
    for category in Category::ALL {
        assert_eq!(category.as_str().parse::<Category>(), Ok(category));
    }
    for level in Compliance::ALL {
        assert_eq!(level.as_str().parse::<Compliance>(), Ok(level));
    }
}

#[test]
fn all_statuses_are_in_wire_order_without_the_unset_value() {
    for (position, status) in HashStatus::ALL.into_iter().enumerate() {
        assert_eq!(status as i32, position as i32 + 1);
    }
    assert_eq!(
        "unspecified".parse::<HashStatus>().map_err(|e| e.to_string()),
        Err("unknown hash status \"unspecified\"".to_owned())
    );
    assert!("Valid".parse::<HashStatus>().is_err(), "labels are exact");
    assert!("".parse::<Category>().is_err());
}

#[test]
fn violations_are_the_non_compliant_statuses() {
    for status in HashStatus::ALL {
        assert_eq!(status.is_violation(), status.compliance() == Compliance::NonCompliant, "{status}");
    }
    assert_eq!(HashStatus::Valid.compliance(), Compliance::Compliant);
    assert_eq!(HashStatus::Injected.compliance(), Compliance::Compliant);
    assert_eq!(HashStatus::Exempt.compliance(), Compliance::Exempt);
    assert_eq!(HashStatus::Unspecified.compliance(), Compliance::Exempt);
    assert!(!HashStatus::Unspecified.is_violation());
}
