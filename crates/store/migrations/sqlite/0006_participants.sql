-- Participants: the pseudonymous record per study (subject id, site, pipeline status and the
-- dates of its milestones), kept apart from contact details and identifiers (PHI), which sit in
-- participant_contacts and are read only through an audited call.
ALTER TABLE studies ADD COLUMN subject_id_pattern TEXT NOT NULL DEFAULT '{site}-{seq:03}';

-- Subject id counters, per study (scope '') or per study and site (scope = site id). Taken with
-- an UPDATE ... RETURNING, which locks the row, so two screenings never get the same number.
CREATE TABLE subject_counters (
    study_id BLOB NOT NULL REFERENCES studies(id),
    scope TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    PRIMARY KEY (study_id, scope)
);

CREATE TABLE participants (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    site_id BLOB NOT NULL REFERENCES sites(id),
    subject_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '',
    status_detail TEXT NOT NULL DEFAULT '',
    consent_withdrawal TEXT NOT NULL DEFAULT 'none',
    screened_on TEXT,
    consented_on TEXT,
    enrolled_on TEXT,
    randomized_on TEXT,
    ended_on TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (study_id, subject_id)
);
CREATE INDEX participants_study_site ON participants(study_id, site_id, status);

CREATE TABLE participant_contacts (
    participant_id BLOB PRIMARY KEY REFERENCES participants(id),
    given_name TEXT NOT NULL DEFAULT '',
    family_name TEXT NOT NULL DEFAULT '',
    date_of_birth TEXT,
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    mrn TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- Every move through the pipeline, with its reason and effective date.
CREATE TABLE participant_moves (
    id BLOB PRIMARY KEY,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    effective_on TEXT NOT NULL,
    user_id BLOB REFERENCES users(id),
    at TEXT NOT NULL
);
CREATE INDEX participant_moves_participant ON participant_moves(participant_id, at);

-- Prescreening failures without identities: how many candidates failed, when, why.
CREATE TABLE screening_log (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    site_id BLOB NOT NULL REFERENCES sites(id),
    logged_on TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    candidates INTEGER NOT NULL CHECK (candidates > 0),
    note TEXT NOT NULL DEFAULT '',
    user_id BLOB REFERENCES users(id),
    created_at TEXT NOT NULL
);
CREATE INDEX screening_log_study_site ON screening_log(study_id, site_id, logged_on);

CREATE TABLE eligibility_criteria (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    kind TEXT NOT NULL CHECK (kind IN ('inclusion', 'exclusion')),
    code TEXT NOT NULL,
    text TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (study_id, code)
);

-- A completed checklist; the investigator's signature (record type eligibility_assessment)
-- confirms the decision. The latest assessment of a participant is the one that counts.
CREATE TABLE eligibility_assessments (
    id BLOB PRIMARY KEY,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    responses TEXT NOT NULL,
    eligible INTEGER NOT NULL,
    failed TEXT NOT NULL DEFAULT '',
    assessed_by BLOB REFERENCES users(id),
    assessed_at TEXT NOT NULL
);
CREATE INDEX eligibility_assessments_participant ON eligibility_assessments(participant_id, assessed_at);

-- Randomization: one scheme per study; its allocation lists are generated at once and kept
-- concealed. A slot is taken by setting participant_id on the first free row of the stratum
-- (guarded by "participant_id IS NULL" and a unique index), so the last slot goes to one
-- request only, whatever the isolation level.
CREATE TABLE randomization_schemes (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL UNIQUE REFERENCES studies(id),
    blinded INTEGER NOT NULL,
    design TEXT NOT NULL,
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL
);

CREATE TABLE randomization_slots (
    id BLOB PRIMARY KEY,
    scheme_id BLOB NOT NULL REFERENCES randomization_schemes(id),
    stratum TEXT NOT NULL,
    seq INTEGER NOT NULL,
    block_no INTEGER NOT NULL,
    block_size INTEGER NOT NULL,
    arm_id BLOB NOT NULL REFERENCES study_arms(id),
    participant_id BLOB REFERENCES participants(id),
    assigned_at TEXT,
    assigned_by BLOB REFERENCES users(id),
    UNIQUE (scheme_id, stratum, seq)
);
CREATE UNIQUE INDEX randomization_slots_participant ON randomization_slots(participant_id);
CREATE INDEX randomization_slots_free ON randomization_slots(scheme_id, stratum, participant_id, seq);

-- People allowed to see allocations of a blinded study (for example the unblinded pharmacist).
CREATE TABLE unblinded_team (
    study_id BLOB NOT NULL REFERENCES studies(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    added_at TEXT NOT NULL,
    PRIMARY KEY (study_id, user_id)
);

-- Emergency unblindings: who broke the blind for which participant, when and why.
CREATE TABLE unblindings (
    id BLOB PRIMARY KEY,
    participant_id BLOB NOT NULL REFERENCES participants(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
