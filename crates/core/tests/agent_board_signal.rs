//! A change the board signals (`Board::changed`) reaches the status PATCH without polling: in
//! the same simulated instant as the signal, not at the next condition check. A board that
//! does not signal is still seen at the next check. Simulated time throughout.
mod agent_support;

use std::time::Duration;

use agent_support::*;
use picokubelet_core::agent::AgentState;

/// Between two condition checks (every 10 s from the registration at 0 s).
const FLIP_AT: Duration = Duration::from_millis(61_500);
const UNTIL: Duration = Duration::from_secs(120);

fn memory_pressure(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "MemoryPressure")
        .and_then(|c| c["status"].as_str())
        .map(str::to_owned)
}

/// Runs the agent; at [`FLIP_AT`] the free heap drops below the MemoryPressure line, announced
/// by the board or not. The status pushes from then on.
async fn pushes_after_the_drop(signal: bool) -> Vec<Record> {
    let w = World::new();
    let state = AgentState::new();
    w.run(&config(), &state, UNTIL, async {
        w.at(FLIP_AT).await;
        let mut b = w.board.get();
        b.heap_free_bytes = 10_000;
        if signal {
            w.signal_board(b);
        } else {
            w.board.set(b);
        }
    })
    .await;
    let pushes = between(&w.server.records(Route::PatchStatus), FLIP_AT, UNTIL);
    assert_eq!(pushes.len(), 1, "one push for the flip: {pushes:?}");
    assert_eq!(memory_pressure(&pushes[0].body).as_deref(), Some("True"));
    assert_eq!(w.log.count("ConditionFlipped { kind: MemoryPressure }"), 1);
    pushes
}

#[tokio::test(start_paused = true)]
async fn a_signalled_flip_is_pushed_in_the_same_instant() {
    local(async {
        let pushes = pushes_after_the_drop(true).await;
        assert_eq!(pushes[0].at, FLIP_AT);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_unsignalled_change_waits_for_the_next_check() {
    local(async {
        let pushes = pushes_after_the_drop(false).await;
        assert!(
            pushes[0].at > FLIP_AT && pushes[0].at <= FLIP_AT + 10 * SECOND,
            "{:?}",
            pushes[0].at
        );
    })
    .await;
}
