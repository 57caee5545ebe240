//! Unit tests for the keymap: the default bindings, rebinding from the
//! config's `[keys]` table (a key taken by another action is stolen from it),
//! and the bindings that are refused (unknown actions, destructive actions
//! on Ctrl chords, unknown key names).

use super::*;

fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

#[test]
fn defaults_map_design_keys() {
    let km = Keymap::default();
    let n = InputMode::Normal;
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('?'), KeyModifiers::SHIFT)),
        Some(Action::Help)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        Some(Action::Bottom)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('D'), KeyModifiers::SHIFT)),
        Some(Action::Delete)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char(' '), KeyModifiers::NONE)),
        Some(Action::Pause)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Interrupt)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('z'), KeyModifiers::CONTROL)),
        Some(Action::SuspendProcess)
    ));
    // no Ctrl chord is destructive
    for c in 'a'..='z' {
        let a = km.key(n, &press(KeyCode::Char(c), KeyModifiers::CONTROL));
        assert!(
            !matches!(
                a,
                Some(
                    Action::Delete
                        | Action::SuspendResume
                        | Action::TerminateSession
                        | Action::CancelSession
                )
            ),
            "Ctrl-{c}"
        );
    }
    assert!(matches!(
        km.key(
            InputMode::Text,
            &press(KeyCode::Char('q'), KeyModifiers::NONE)
        ),
        Some(Action::Text(TextKey::Char('q')))
    ));
}

#[test]
fn rebinding_replaces_and_steals() {
    let mut keys = BTreeMap::new();
    keys.insert("quit".to_string(), KeySpec::One("Q".into()));
    keys.insert(
        "refresh".to_string(),
        KeySpec::Many(vec!["F5".into(), "j".into()]),
    );
    let km = Keymap::from_config(&keys).expect("valid");
    let n = InputMode::Normal;
    assert!(
        km.key(n, &press(KeyCode::Char('q'), KeyModifiers::NONE))
            .is_none()
    );
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
        Some(Action::Quit)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::F(5), KeyModifiers::NONE)),
        Some(Action::Refresh)
    ));
    assert!(matches!(
        km.key(n, &press(KeyCode::Char('j'), KeyModifiers::NONE)),
        Some(Action::Refresh)
    ));
    let help = km.help_rows();
    let down = help.iter().find(|r| r.name == "down").expect("down");
    assert_eq!(down.keys, "↓", "j was taken by refresh");
    assert_eq!(km.label_of("quit"), "Q");
}

#[test]
fn bad_bindings_are_refused() {
    let mut keys = BTreeMap::new();
    keys.insert("explode".to_string(), KeySpec::One("x".into()));
    assert!(
        Keymap::from_config(&keys)
            .expect_err("unknown")
            .message
            .contains("explode")
    );
    let mut keys = BTreeMap::new();
    keys.insert("delete".to_string(), KeySpec::One("Ctrl-d".into()));
    assert!(
        Keymap::from_config(&keys)
            .expect_err("ctrl")
            .message
            .contains("Ctrl")
    );
    let mut keys = BTreeMap::new();
    keys.insert("help".to_string(), KeySpec::One("Hyper".into()));
    assert!(Keymap::from_config(&keys).is_err());
}
