-- Participant visits: planned from the schedule of events when their anchor happens (consent,
-- enrollment, randomization), with the target day and window in the site's local dates, then
-- recorded as completed (with the actual day; outside the window it carries a deviation note
-- and is flagged) or missed. Visits still ahead are cancelled when a participant leaves.
CREATE TABLE participant_visits (
    id BLOB PRIMARY KEY,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    definition_id BLOB NOT NULL REFERENCES visit_definitions(id),
    occurrence INTEGER NOT NULL,
    target_on TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'missed', 'cancelled')),
    actual_on TEXT,
    out_of_window INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (participant_id, definition_id, occurrence)
);
CREATE INDEX participant_visits_target ON participant_visits(target_on, status);
