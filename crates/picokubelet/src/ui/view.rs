//! What the view remembers between frames: the selected board, the scroll position, the faults
//! it set, and the message about the last key.

use std::collections::BTreeSet;
use std::ops::Range;

use super::keys::Command;
use super::server::ServerFaults;
use crate::controls::{BoardAction, LOW_HEAP_BYTES};

/// The line under the table about the last key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// See the module notes.
#[derive(Clone, Debug)]
pub struct ViewState {
    pub count: usize,
    pub selected: usize,
    pub offset: usize,
    /// Table rows on screen at the last [`ViewState::fit`].
    pub page: usize,
    /// Boards this view set to low heap.
    pub low_heap: BTreeSet<usize>,
    /// The server's storage is stalled by this view.
    pub stalled: bool,
    pub message: Option<Message>,
}

/// Whether the view goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

impl ViewState {
    pub fn new(count: usize) -> Self {
        ViewState {
            count,
            selected: 0,
            offset: 0,
            page: 1,
            low_heap: BTreeSet::new(),
            stalled: false,
            message: None,
        }
    }

    /// `rows` table rows fit on screen: scrolls so the selection stays visible.
    pub fn fit(&mut self, rows: usize) {
        self.page = rows.max(1);
        self.selected = self.selected.min(self.count.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        self.offset = self.offset.min(self.count.saturating_sub(self.page));
    }

    /// The board indices on screen (the only ones whose reports the view asks for).
    pub fn visible(&self) -> Range<usize> {
        self.offset..(self.offset + self.page).min(self.count)
    }

    fn say(&mut self, result: Result<String, String>) {
        self.message = Some(match result {
            Ok(text) => Message { text, error: false },
            Err(text) => Message { text, error: true },
        });
    }

    /// Carries out `command` on the selected board `name` (through `act`) or on `server`.
    pub fn apply(
        &mut self,
        command: Command,
        name: &str,
        act: &mut dyn FnMut(usize, BoardAction) -> bool,
        server: Option<&dyn ServerFaults>,
    ) -> Flow {
        let last = self.count.saturating_sub(1);
        let board = self.selected;
        let mut on_board = |action: BoardAction, done: String| {
            if act(board, action) {
                Ok(done)
            } else {
                Err(format!("{name}: its worker thread has stopped"))
            }
        };
        let result = match command {
            Command::Quit => return Flow::Quit,
            Command::Up => {
                self.selected = self.selected.saturating_sub(1);
                return Flow::Continue;
            }
            Command::Down => {
                self.selected = (self.selected + 1).min(last);
                return Flow::Continue;
            }
            Command::PageUp => {
                self.selected = self.selected.saturating_sub(self.page);
                return Flow::Continue;
            }
            Command::PageDown => {
                self.selected = (self.selected + self.page).min(last);
                return Flow::Continue;
            }
            Command::First => {
                self.selected = 0;
                return Flow::Continue;
            }
            Command::Last => {
                self.selected = last;
                return Flow::Continue;
            }
            Command::CutSession => on_board(
                BoardAction::CutSession,
                format!("{name}: connection cut; the agent reconnects"),
            ),
            Command::ToggleLowHeap => {
                let low = !self.low_heap.contains(&board);
                let (bytes, done) = if low {
                    (
                        Some(LOW_HEAP_BYTES),
                        format!("{name}: free heap reads {LOW_HEAP_BYTES} bytes (MemoryPressure)"),
                    )
                } else {
                    (None, format!("{name}: free heap back to the simulation"))
                };
                let r = on_board(BoardAction::HeapOverride(bytes), done);
                if r.is_ok() {
                    if low {
                        self.low_heap.insert(board);
                    } else {
                        self.low_heap.remove(&board);
                    }
                }
                r
            }
            Command::ToggleStall
            | Command::RestartServer
            | Command::RevokeToken
            | Command::DeleteNode => match server {
                None => Err("no embedded server: server faults need `demo`".to_owned()),
                Some(server) => self.server_fault(command, name, server),
            },
        };
        self.say(result);
        Flow::Continue
    }

    fn server_fault(
        &mut self,
        command: Command,
        name: &str,
        server: &dyn ServerFaults,
    ) -> Result<String, String> {
        match command {
            Command::ToggleStall => {
                let stall = !self.stalled;
                server.set_stalled(stall)?;
                self.stalled = stall;
                Ok(if stall {
                    "server: storage stalled (requests that need etcd hang)".to_owned()
                } else {
                    "server: storage back".to_owned()
                })
            }
            Command::RestartServer => server.restart().map(|()| "server: restarting".to_owned()),
            Command::RevokeToken => server
                .revoke_token(name)
                .map(|()| format!("server: the token of {name} is revoked")),
            Command::DeleteNode => server
                .delete_node(name)
                .map(|()| format!("server: Node {name} deleted")),
            _ => Ok(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn the_selection_stays_on_screen() {
        let mut v = ViewState::new(100);
        v.fit(10);
        assert_eq!(v.visible(), 0..10);
        let mut never = |_: usize, _: BoardAction| true;
        for _ in 0..15 {
            v.apply(Command::Down, "b", &mut never, None);
        }
        v.fit(10);
        assert_eq!(v.selected, 15);
        assert_eq!(v.visible(), 6..16);
        v.apply(Command::Last, "b", &mut never, None);
        v.fit(10);
        assert_eq!(v.visible(), 90..100);
        v.apply(Command::PageUp, "b", &mut never, None);
        v.apply(Command::PageUp, "b", &mut never, None);
        v.fit(10);
        assert_eq!((v.selected, v.visible()), (79, 79..89));
        let mut few = ViewState::new(3);
        few.fit(10);
        assert_eq!(few.visible(), 0..3);
        let mut none = ViewState::new(0);
        none.fit(5);
        assert_eq!(none.visible(), 0..0);
    }

    #[test]
    fn low_heap_toggles_on_the_selected_board() {
        let acts = RefCell::new(Vec::new());
        let mut act = |b: usize, a: BoardAction| {
            acts.borrow_mut().push((b, a));
            true
        };
        let mut v = ViewState::new(4);
        v.apply(Command::Down, "b-2", &mut act, None);
        v.apply(Command::ToggleLowHeap, "b-2", &mut act, None);
        v.apply(Command::ToggleLowHeap, "b-2", &mut act, None);
        v.apply(Command::CutSession, "b-2", &mut act, None);
        assert_eq!(
            acts.into_inner(),
            [
                (1, BoardAction::HeapOverride(Some(LOW_HEAP_BYTES))),
                (1, BoardAction::HeapOverride(None)),
                (1, BoardAction::CutSession),
            ]
        );
        assert!(v.low_heap.is_empty());
        let mut gone = |_: usize, _: BoardAction| false;
        v.apply(Command::CutSession, "b-2", &mut gone, None);
        assert!(v.message.as_ref().is_some_and(|m| m.error));
    }
}
