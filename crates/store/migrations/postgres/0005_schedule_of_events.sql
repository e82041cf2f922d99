-- Schedule of events: a study's visit definitions. A visit counts its day offset from consent,
-- enrollment, randomization or another visit; its window runs window_before days before and
-- window_after days after the target day. Procedures are a JSON array of names.
CREATE TABLE visit_definitions (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    anchor TEXT NOT NULL CHECK (anchor IN ('consent', 'enrollment', 'randomization', 'visit')),
    anchor_visit TEXT,
    offset_days BIGINT NOT NULL,
    window_before BIGINT NOT NULL DEFAULT 0,
    window_after BIGINT NOT NULL DEFAULT 0,
    kind TEXT NOT NULL CHECK (kind IN ('scheduled', 'unscheduled', 'repeating')),
    repeat_every_days BIGINT NOT NULL DEFAULT 0,
    repeat_count BIGINT NOT NULL DEFAULT 0,
    procedures TEXT NOT NULL DEFAULT '[]',
    position BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, code)
);
