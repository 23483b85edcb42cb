//! The live loop: the terminal (raw mode, alternate screen; restored on every way out), the key
//! reader, and a frame every [`FRAME`].

use std::io::Stdout;
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyEvent};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::draw::{areas, draw, table_rows, Screen};
use super::keys::command;
use super::server::ServerFaults;
use super::view::{Flow, ViewState};
use crate::failure::Failure;
use crate::fleet::FleetHandle;

/// 10 frames a second: smooth enough for the LED's 1 Hz blink and 2–3 s breathing.
pub const FRAME: Duration = Duration::from_millis(100);

fn terminal_failure(what: &str, e: std::io::Error) -> Failure {
    Failure::Output(std::io::Error::new(
        e.kind(),
        format!("the terminal view: {what}: {e}"),
    ))
}

/// The terminal in raw mode on the alternate screen, until dropped (also when the view fails,
/// panics, or its future is dropped at SIGTERM): never leaves the shell in raw mode.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> Result<Self, Failure> {
        terminal::enable_raw_mode().map_err(|e| terminal_failure("raw mode", e))?;
        let entered = execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .and_then(|()| Terminal::new(CrosstermBackend::new(std::io::stdout())));
        match entered {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(terminal_failure("setup", e))
            }
        }
    }
}

fn restore() {
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Reads keys on a thread of its own (crossterm's reads block) until the view stops listening.
fn spawn_key_reader() -> Result<mpsc::UnboundedReceiver<std::io::Result<KeyEvent>>, Failure> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("ui-keys".into())
        .spawn(move || loop {
            // Polls so the thread notices within a frame that the view ended, and does not
            // swallow the shell's next keystroke.
            match event::poll(FRAME) {
                Ok(false) if tx.is_closed() => return,
                Ok(false) => {}
                Ok(true) => match event::read() {
                    Ok(Event::Key(key)) => {
                        if tx.send(Ok(key)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                },
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        })
        .map_err(|e| terminal_failure("key reader thread", e))?;
    Ok(rx)
}

/// Runs the view over `fleet` until `q` / Ctrl-C (or the key reader fails).
pub async fn drive(
    fleet: FleetHandle,
    server: Option<&dyn ServerFaults>,
    server_line: Option<String>,
) -> Result<(), Failure> {
    // Declared before the screen: dropped after it, so the kept log lines land on the restored
    // terminal.
    let capture = crate::logging::capture();
    let mut screen = TerminalGuard::enter()?;
    let mut keys = spawn_key_reader()?;
    let names = fleet.names().to_vec();
    let mut view = ViewState::new(names.len());
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            key = keys.recv() => match key {
                Some(Ok(key)) => {
                    if let Some(cmd) = command(&key, server.is_some()) {
                        let name = names.get(view.selected).map_or("", String::as_str);
                        let mut act = |board, action| fleet.act(board, action);
                        if view.apply(cmd, name, &mut act, server) == Flow::Quit {
                            break;
                        }
                    }
                }
                Some(Err(e)) => return Err(terminal_failure("reading keys", e)),
                None => return Err(Failure::Usage("the terminal view's key reader stopped".into())),
            },
        }
        let size = screen
            .terminal
            .size()
            .map_err(|e| terminal_failure("size", e))?;
        let a = areas(ratatui::layout::Rect::new(0, 0, size.width, size.height));
        view.fit(table_rows(&a));
        let glance = fleet.glance(view.visible()).await;
        let log = capture.last(usize::from(a.log.height));
        let t_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        screen
            .terminal
            .draw(|f| {
                draw(
                    f,
                    &Screen {
                        glance: &glance,
                        names: &names,
                        view: &view,
                        log: &log,
                        t_ms,
                        server: server_line.as_deref(),
                    },
                )
            })
            .map_err(|e| terminal_failure("drawing", e))?;
    }
    drop(screen);
    drop(capture);
    Ok(())
}
