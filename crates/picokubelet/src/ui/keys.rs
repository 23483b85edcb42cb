//! The view's keys: one table, read both to act on a key and to print the key line, so the
//! help never shows a key that does nothing (server keys only with a [`super::ServerFaults`]).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    /// Cut the selected board's connection.
    CutSession,
    /// Low heap on the selected board, or back to normal.
    ToggleLowHeap,
    /// Stall the server's storage, or resume it.
    ToggleStall,
    RestartServer,
    /// Revoke the selected board's token.
    RevokeToken,
    /// Delete the selected board's Node.
    DeleteNode,
}

impl Command {
    /// The command needs an embedded server.
    pub const fn needs_server(self) -> bool {
        matches!(
            self,
            Command::ToggleStall
                | Command::RestartServer
                | Command::RevokeToken
                | Command::DeleteNode
        )
    }
}

/// The fault keys, in the order the key line shows them.
pub const FAULT_KEYS: [(char, &str, Command); 6] = [
    ('c', "cut connection", Command::CutSession),
    ('m', "low heap on/off", Command::ToggleLowHeap),
    ('s', "stall server", Command::ToggleStall),
    ('r', "restart server", Command::RestartServer),
    ('t', "revoke token", Command::RevokeToken),
    ('d', "delete Node", Command::DeleteNode),
];

/// The command of `key`, `None` for keys that mean nothing here (or need a server there is
/// not).
pub fn command(key: &KeyEvent, with_server: bool) -> Option<Command> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let command = match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Command::Quit,
        KeyCode::Char('q') | KeyCode::Esc => Command::Quit,
        KeyCode::Up | KeyCode::Char('k') => Command::Up,
        KeyCode::Down | KeyCode::Char('j') => Command::Down,
        KeyCode::PageUp => Command::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Command::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Command::First,
        KeyCode::End | KeyCode::Char('G') => Command::Last,
        KeyCode::Char(c) => FAULT_KEYS.iter().find(|(k, _, _)| *k == c)?.2,
        _ => return None,
    };
    (with_server || !command.needs_server()).then_some(command)
}

/// The key line: the fault keys that exist, then navigation and quit.
pub fn key_line(with_server: bool) -> Vec<(String, &'static str)> {
    let mut keys: Vec<(String, &'static str)> = FAULT_KEYS
        .iter()
        .filter(|(_, _, c)| with_server || !c.needs_server())
        .map(|(k, what, _)| (k.to_string(), *what))
        .collect();
    keys.push(("↑↓".into(), "select"));
    keys.push(("q".into(), "quit"));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn server_keys_exist_only_with_a_server() {
        for c in ['s', 'r', 't', 'd'] {
            assert_eq!(command(&key(c), false), None, "{c}");
            assert!(command(&key(c), true).is_some(), "{c}");
        }
        assert_eq!(command(&key('c'), false), Some(Command::CutSession));
        assert_eq!(command(&key('m'), false), Some(Command::ToggleLowHeap));
        let plain: Vec<String> = key_line(false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(plain, ["c", "m", "↑↓", "q"]);
        assert_eq!(key_line(true).len(), 8);
    }

    #[test]
    fn ctrl_c_and_q_quit_and_a_release_does_nothing() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(command(&ctrl_c, false), Some(Command::Quit));
        assert_eq!(command(&key('q'), false), Some(Command::Quit));
        let mut release = key('q');
        release.kind = KeyEventKind::Release;
        assert_eq!(command(&release, true), None);
    }
}
