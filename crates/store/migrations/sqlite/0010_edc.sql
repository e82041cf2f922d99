-- Electronic data capture.
--
-- Metadata versions: a study's data dictionary (REDCap CSV as the study's designers wrote it),
-- instrument labels and repeat settings, which instruments each visit of the schedule of events
-- collects, and the study's missing-data codes. One draft and one production version at most;
-- publishing a draft makes it production and retires the one before, so data entered against
-- an older version stays readable against the version it was saved with.
CREATE TABLE edc_metadata_versions (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'production', 'retired')),
    dictionary TEXT NOT NULL,
    instruments TEXT NOT NULL DEFAULT '[]',
    event_forms TEXT NOT NULL DEFAULT '[]',
    missing_codes TEXT NOT NULL DEFAULT '',
    change_reason TEXT NOT NULL DEFAULT '',
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_by BLOB REFERENCES users(id),
    published_at TEXT,
    UNIQUE (study_id, number)
);
CREATE UNIQUE INDEX edc_metadata_one_draft ON edc_metadata_versions(study_id) WHERE status = 'draft';
CREATE UNIQUE INDEX edc_metadata_one_production ON edc_metadata_versions(study_id) WHERE status = 'production';

-- Records: one per participant of a trial (named by the subject id), or free-standing in a
-- data-capture project, where the site (if any) says who may see it.
CREATE TABLE edc_records (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    record TEXT NOT NULL,
    participant_id BLOB UNIQUE REFERENCES participants(id),
    site_id BLOB REFERENCES sites(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (study_id, record)
);

-- Form instances: record x event (visit code, '' in a classic project) x instrument x instance
-- (the repeat of a repeating instrument, or of the visit in a repeating event). `revision`
-- grows with every save, so a page saved over a newer save is refused instead of overwriting.
CREATE TABLE edc_forms (
    id BLOB PRIMARY KEY,
    record_id BLOB NOT NULL REFERENCES edc_records(id),
    event TEXT NOT NULL,
    instrument TEXT NOT NULL,
    instance INTEGER NOT NULL CHECK (instance >= 1),
    status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    version_number INTEGER NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    locked_by BLOB REFERENCES users(id),
    locked_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (record_id, event, instrument, instance)
);

-- One row per answered field (a checkbox holds its checked codes, comma-separated).
CREATE TABLE edc_values (
    form_id BLOB NOT NULL REFERENCES edc_forms(id),
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (form_id, field)
) WITHOUT ROWID;

-- Source data verification per field: removed when the value changes.
CREATE TABLE edc_verifications (
    form_id BLOB NOT NULL REFERENCES edc_forms(id),
    field TEXT NOT NULL,
    verified_by BLOB NOT NULL REFERENCES users(id),
    verified_at TEXT NOT NULL,
    PRIMARY KEY (form_id, field)
);

-- A locked visit (record x event x instance): none of its forms changes until it is unlocked.
CREATE TABLE edc_event_locks (
    record_id BLOB NOT NULL REFERENCES edc_records(id),
    event TEXT NOT NULL,
    instance INTEGER NOT NULL,
    locked_by BLOB NOT NULL REFERENCES users(id),
    locked_at TEXT NOT NULL,
    PRIMARY KEY (record_id, event, instance)
);

-- Queries (data clarification) on a field of a form, and their thread.
CREATE TABLE edc_queries (
    id BLOB PRIMARY KEY,
    form_id BLOB NOT NULL REFERENCES edc_forms(id),
    field TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    assigned_role TEXT NOT NULL DEFAULT '',
    opened_by BLOB NOT NULL REFERENCES users(id),
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX edc_queries_form ON edc_queries(form_id, field);
CREATE INDEX edc_queries_status ON edc_queries(status, opened_at);
CREATE TABLE edc_query_messages (
    id BLOB PRIMARY KEY,
    query_id BLOB NOT NULL REFERENCES edc_queries(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('open', 'response', 'close', 'reopen')),
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX edc_query_messages_query ON edc_query_messages(query_id, at);

-- REDCap API tokens: per person and study, 32 hexadecimal characters, stored as SHA-256 like
-- every other token.
ALTER TABLE api_tokens ADD COLUMN study_id BLOB REFERENCES studies(id);
CREATE UNIQUE INDEX api_tokens_redcap ON api_tokens(user_id, study_id) WHERE study_id IS NOT NULL AND revoked_at IS NULL;
