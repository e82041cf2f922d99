-- Consent: document versions (IRB approval, language, effective and retired dates, the PDF of
-- record with its SHA-256, the text read on the kiosk, comprehension questions), consent events
-- (who signed how, witnessed by whom, obtained by whom, answers, copy given), the immutable
-- eConsent snapshots of exactly what was shown and signed, and one-time kiosk links.
CREATE TABLE consent_documents (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    version_label TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    irb_approved_on DATE NOT NULL,
    effective_on DATE NOT NULL,
    retired_on DATE,
    body TEXT NOT NULL,
    questions TEXT NOT NULL,
    witness_required BOOLEAN NOT NULL,
    pdf_name TEXT NOT NULL,
    pdf BYTEA NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    pdf_size BIGINT NOT NULL,
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, language, version_label),
    CHECK (retired_on IS NULL OR retired_on > effective_on)
);
-- One version per study and language is open-ended; a newer one retires it on its effective day.
CREATE UNIQUE INDEX consent_documents_open ON consent_documents(study_id, language) WHERE retired_on IS NULL;
-- What was approved and signed never changes; only the retirement date is set later.
CREATE FUNCTION refuse_consent_document_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consent documents are kept';
    END IF;
    IF (NEW.study_id, NEW.version_label, NEW.language, NEW.title, NEW.irb_approved_on, NEW.effective_on, NEW.body,
        NEW.questions, NEW.witness_required, NEW.pdf_name, NEW.pdf, NEW.pdf_sha256, NEW.pdf_size)
       IS DISTINCT FROM
       (OLD.study_id, OLD.version_label, OLD.language, OLD.title, OLD.irb_approved_on, OLD.effective_on, OLD.body,
        OLD.questions, OLD.witness_required, OLD.pdf_name, OLD.pdf, OLD.pdf_sha256, OLD.pdf_size) THEN
        RAISE EXCEPTION 'an approved consent document does not change';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER consent_documents_fixed BEFORE UPDATE OR DELETE ON consent_documents
    FOR EACH ROW EXECUTE FUNCTION refuse_consent_document_change();

CREATE TABLE consent_events (
    id UUID PRIMARY KEY,
    participant_id UUID NOT NULL REFERENCES participants(id),
    document_id UUID NOT NULL REFERENCES consent_documents(id),
    kind TEXT NOT NULL CHECK (kind IN ('initial', 'reconsent')),
    status TEXT NOT NULL CHECK (status IN ('awaiting_countersignature', 'complete')),
    method TEXT NOT NULL CHECK (method IN ('paper', 'electronic', 'remote')),
    signer TEXT NOT NULL CHECK (signer IN ('participant', 'representative')),
    signer_name TEXT NOT NULL,
    representative_relationship TEXT NOT NULL DEFAULT '',
    witness_name TEXT NOT NULL DEFAULT '',
    answers TEXT NOT NULL,
    copy_provided BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    consented_at TIMESTAMPTZ NOT NULL,
    consented_on DATE NOT NULL,
    obtained_by UUID NOT NULL REFERENCES users(id),
    recorded_by UUID REFERENCES users(id),
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_events_participant ON consent_events(participant_id, consented_at);

CREATE TABLE consent_snapshots (
    id UUID PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE REFERENCES consent_events(id),
    html TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE FUNCTION refuse_consent_snapshot_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a consent snapshot is immutable';
END;
$$;
CREATE TRIGGER consent_snapshots_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON consent_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_consent_snapshot_change();

-- A kiosk link is used once: the token is stored as its SHA-256, used_at is set by a guarded
-- update when the participant signs.
CREATE TABLE consent_kiosk_links (
    id UUID PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    participant_id UUID NOT NULL REFERENCES participants(id),
    document_id UUID NOT NULL REFERENCES consent_documents(id),
    created_by UUID NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    event_id UUID REFERENCES consent_events(id)
);
