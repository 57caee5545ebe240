//! Everything that can happen to the console, as one enum: user intents (from
//! the keymap), time passing, terminal changes and backend events. `update`
//! turns each into a state change and at most one [`Command`](crate::backend::Command).

use chrono::{DateTime, Utc};

use crate::backend::Event;

/// A key typed while a text field, the command line, the filter, the wizard or
/// a confirmation has the focus. The keymap produces these; panes never see
/// raw key codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKey {
    /// A printable character.
    Char(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Delete the word before the cursor (Ctrl-W).
    DeleteWord,
    /// Clear the field (Ctrl-U).
    Clear,
    /// Cursor one character left.
    Left,
    /// Cursor one character right.
    Right,
    /// Cursor to the start.
    Home,
    /// Cursor to the end.
    End,
    /// Previous item (template list, history).
    Up,
    /// Next item.
    Down,
    /// Accept (Enter).
    Submit,
    /// Leave the field or step (Esc).
    Cancel,
    /// Complete, or go to the next field (Tab).
    Next,
    /// Previous field (Shift-Tab).
    Prev,
}

/// One thing that happened. The `///` line of each variant says when it fires.
#[derive(Debug, Clone)]
pub enum Action {
    /// The tick timer fired; carries the wall clock so `update` never reads it.
    Tick(DateTime<Utc>),
    /// The terminal was resized to (columns, rows).
    Resize(u16, u16),
    /// `?`: toggle the help overlay.
    Help,
    /// `:`: open the command line.
    CommandLine,
    /// `/`: edit the list filter.
    Filter,
    /// `j`/Down: next row (or scroll down).
    Down,
    /// `k`/Up: previous row (or scroll up).
    Up,
    /// `g`: first row.
    Top,
    /// `G`: last row.
    Bottom,
    /// PgDn: one page down.
    PageDown,
    /// PgUp: one page up.
    PageUp,
    /// Enter: open the selected tenant's detail (or the selected item).
    Open,
    /// Esc: close the overlay, leave the detail, clear a message.
    Back,
    /// Tab: next pane (tenants, monitor, audit, alerts).
    NextPane,
    /// Shift-Tab: previous pane.
    PrevPane,
    /// `l`/Right: next detail tab.
    NextTab,
    /// `h`/Left: previous detail tab.
    PrevTab,
    /// `n`: open the create wizard.
    New,
    /// `e`: edit the selected tenant.
    Edit,
    /// `x`: suspend or resume the selected tenant (asks first).
    SuspendResume,
    /// `D`: delete the selected (suspended) tenant (asks for its domain).
    Delete,
    /// `c` in the sessions tab: cancel the selected session's statement (asks first).
    CancelSession,
    /// `T` in the sessions tab: terminate the selected session (asks first).
    TerminateSession,
    /// `s`: next sort column (in the monitor: next ranking metric).
    SortColumn,
    /// `S`: flip the sort direction.
    SortDirection,
    /// Space: pause or resume the live view.
    Pause,
    /// `+`: refresh faster.
    Faster,
    /// `-`: refresh slower.
    Slower,
    /// `r`: take a snapshot now.
    Refresh,
    /// `m`, `N`, `L`, `H`, `M` (or `:monitor`, `:neighbours`, `:locks`,
    /// `:heatmap`, `:migrations`): open that view.
    View(crate::tui::state::Pane),
    /// `w`: the charts' next time window (1, 5, 15, 60 minutes, within the history).
    Window,
    /// `<` (and `←` in the list and monitor views) while paused: one point
    /// back in the kept history.
    TimeBack,
    /// `>` (and `→` in the list and monitor views) while paused: one point forward.
    TimeForward,
    /// `p` in the Migrations pane (or `:migrate pause`): pause the selected run (asks first).
    MigratePause,
    /// `R` in the Migrations pane (or `:migrate resume`): resume the selected run here (asks first).
    MigrateResume,
    /// `C` in the Migrations pane (or `:migrate cancel`): cancel the selected run (asks first).
    MigrateCancel,
    /// `q`: quit; in the help overlay it closes the overlay.
    Quit,
    /// Ctrl-C: quit from anywhere, text fields and overlays included.
    Interrupt,
    /// Ctrl-Z: suspend the process; the loop restores the terminal first.
    SuspendProcess,
    /// The process was resumed after Ctrl-Z; redraw everything.
    Resumed,
    /// A key for the focused text field, command line, filter, wizard or confirmation.
    Text(TextKey),
    /// A left click at (column, row) — only with `--mouse`.
    Click(u16, u16),
    /// Something the backend reported.
    Backend(crate::backend::Event),
}

impl Action {
    /// Wrap a backend event.
    pub fn from_event(e: Event) -> Self {
        Self::Backend(e)
    }
}
