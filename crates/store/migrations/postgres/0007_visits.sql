-- Participant visits: planned from the schedule of events when their anchor happens (consent,
-- enrollment, randomization), with the target day and window in the site's local dates, then
-- recorded as completed (with the actual day; outside the window it carries a deviation note
-- and is flagged) or missed. Visits still ahead are cancelled when a participant leaves.
CREATE TABLE participant_visits (
    id UUID PRIMARY KEY,
    participant_id UUID NOT NULL REFERENCES participants(id),
    definition_id UUID NOT NULL REFERENCES visit_definitions(id),
    occurrence BIGINT NOT NULL,
    target_on DATE NOT NULL,
    window_start DATE NOT NULL,
    window_end DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'missed', 'cancelled')),
    actual_on DATE,
    out_of_window BOOLEAN NOT NULL DEFAULT FALSE,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (participant_id, definition_id, occurrence)
);
CREATE INDEX participant_visits_target ON participant_visits(target_on, status);
