-- Consent: document versions (IRB approval, language, effective and retired dates, the PDF of
-- record with its SHA-256, the text read on the kiosk, comprehension questions), consent events
-- (who signed how, witnessed by whom, obtained by whom, answers, copy given), the immutable
-- eConsent snapshots of exactly what was shown and signed, and one-time kiosk links.
CREATE TABLE consent_documents (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    version_label TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    irb_approved_on TEXT NOT NULL,
    effective_on TEXT NOT NULL,
    retired_on TEXT,
    body TEXT NOT NULL,
    questions TEXT NOT NULL,
    witness_required INTEGER NOT NULL,
    pdf_name TEXT NOT NULL,
    pdf BLOB NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    pdf_size INTEGER NOT NULL,
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    UNIQUE (study_id, language, version_label),
    CHECK (retired_on IS NULL OR retired_on > effective_on)
);
-- One version per study and language is open-ended; a newer one retires it on its effective day.
CREATE UNIQUE INDEX consent_documents_open ON consent_documents(study_id, language) WHERE retired_on IS NULL;
-- What was approved and signed never changes; only the retirement date is set later.
CREATE TRIGGER consent_documents_fixed BEFORE UPDATE OF study_id, version_label, language, title, irb_approved_on,
    effective_on, body, questions, witness_required, pdf_name, pdf, pdf_sha256, pdf_size ON consent_documents
BEGIN SELECT RAISE(ABORT, 'an approved consent document does not change'); END;
CREATE TRIGGER consent_documents_kept BEFORE DELETE ON consent_documents
BEGIN SELECT RAISE(ABORT, 'consent documents are kept'); END;

CREATE TABLE consent_events (
    id BLOB PRIMARY KEY,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    document_id BLOB NOT NULL REFERENCES consent_documents(id),
    kind TEXT NOT NULL CHECK (kind IN ('initial', 'reconsent')),
    status TEXT NOT NULL CHECK (status IN ('awaiting_countersignature', 'complete')),
    method TEXT NOT NULL CHECK (method IN ('paper', 'electronic', 'remote')),
    signer TEXT NOT NULL CHECK (signer IN ('participant', 'representative')),
    signer_name TEXT NOT NULL,
    representative_relationship TEXT NOT NULL DEFAULT '',
    witness_name TEXT NOT NULL DEFAULT '',
    answers TEXT NOT NULL,
    copy_provided INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    consented_at TEXT NOT NULL,
    consented_on TEXT NOT NULL,
    obtained_by BLOB NOT NULL REFERENCES users(id),
    recorded_by BLOB REFERENCES users(id),
    completed_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX consent_events_participant ON consent_events(participant_id, consented_at);

CREATE TABLE consent_snapshots (
    id BLOB PRIMARY KEY,
    event_id BLOB NOT NULL UNIQUE REFERENCES consent_events(id),
    html TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TRIGGER consent_snapshots_no_update BEFORE UPDATE ON consent_snapshots
BEGIN SELECT RAISE(ABORT, 'a consent snapshot is immutable'); END;
CREATE TRIGGER consent_snapshots_no_delete BEFORE DELETE ON consent_snapshots
BEGIN SELECT RAISE(ABORT, 'a consent snapshot is immutable'); END;

-- A kiosk link is used once: the token is stored as its SHA-256, used_at is set by a guarded
-- update when the participant signs.
CREATE TABLE consent_kiosk_links (
    id BLOB PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    document_id BLOB NOT NULL REFERENCES consent_documents(id),
    created_by BLOB NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    event_id BLOB REFERENCES consent_events(id)
);
