-- Participants: the pseudonymous record per study (subject id, site, pipeline status and the
-- dates of its milestones), kept apart from contact details and identifiers (PHI), which sit in
-- participant_contacts and are read only through an audited call.
ALTER TABLE studies ADD COLUMN subject_id_pattern TEXT NOT NULL DEFAULT '{site}-{seq:03}';

-- Subject id counters, per study (scope '') or per study and site (scope = site id). Taken with
-- an UPDATE ... RETURNING, which locks the row, so two screenings never get the same number.
CREATE TABLE subject_counters (
    study_id UUID NOT NULL REFERENCES studies(id),
    scope TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (study_id, scope)
);

CREATE TABLE participants (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    site_id UUID NOT NULL REFERENCES sites(id),
    subject_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '',
    status_detail TEXT NOT NULL DEFAULT '',
    consent_withdrawal TEXT NOT NULL DEFAULT 'none',
    screened_on DATE,
    consented_on DATE,
    enrolled_on DATE,
    randomized_on DATE,
    ended_on DATE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, subject_id)
);
CREATE INDEX participants_study_site ON participants(study_id, site_id, status);

CREATE TABLE participant_contacts (
    participant_id UUID PRIMARY KEY REFERENCES participants(id),
    given_name TEXT NOT NULL DEFAULT '',
    family_name TEXT NOT NULL DEFAULT '',
    date_of_birth DATE,
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    mrn TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every move through the pipeline, with its reason and effective date.
CREATE TABLE participant_moves (
    id UUID PRIMARY KEY,
    participant_id UUID NOT NULL REFERENCES participants(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    effective_on DATE NOT NULL,
    user_id UUID REFERENCES users(id),
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX participant_moves_participant ON participant_moves(participant_id, at);

-- Prescreening failures without identities: how many candidates failed, when, why.
CREATE TABLE screening_log (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    site_id UUID NOT NULL REFERENCES sites(id),
    logged_on DATE NOT NULL,
    reason_code TEXT NOT NULL,
    candidates BIGINT NOT NULL CHECK (candidates > 0),
    note TEXT NOT NULL DEFAULT '',
    user_id UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX screening_log_study_site ON screening_log(study_id, site_id, logged_on);

CREATE TABLE eligibility_criteria (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    kind TEXT NOT NULL CHECK (kind IN ('inclusion', 'exclusion')),
    code TEXT NOT NULL,
    text TEXT NOT NULL,
    position BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, code)
);

-- A completed checklist; the investigator's signature (record type eligibility_assessment)
-- confirms the decision. The latest assessment of a participant is the one that counts.
CREATE TABLE eligibility_assessments (
    id UUID PRIMARY KEY,
    participant_id UUID NOT NULL REFERENCES participants(id),
    responses TEXT NOT NULL,
    eligible BOOLEAN NOT NULL,
    failed TEXT NOT NULL DEFAULT '',
    assessed_by UUID REFERENCES users(id),
    assessed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX eligibility_assessments_participant ON eligibility_assessments(participant_id, assessed_at);

-- Randomization: one scheme per study; its allocation lists are generated at once and kept
-- concealed. A slot is taken by setting participant_id on the first free row of the stratum
-- (guarded by "participant_id IS NULL" and a unique index), so the last slot goes to one
-- request only, whatever the isolation level.
CREATE TABLE randomization_schemes (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL UNIQUE REFERENCES studies(id),
    blinded BOOLEAN NOT NULL,
    design TEXT NOT NULL,
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE randomization_slots (
    id UUID PRIMARY KEY,
    scheme_id UUID NOT NULL REFERENCES randomization_schemes(id),
    stratum TEXT NOT NULL,
    seq BIGINT NOT NULL,
    block_no BIGINT NOT NULL,
    block_size BIGINT NOT NULL,
    arm_id UUID NOT NULL REFERENCES study_arms(id),
    participant_id UUID REFERENCES participants(id),
    assigned_at TIMESTAMPTZ,
    assigned_by UUID REFERENCES users(id),
    UNIQUE (scheme_id, stratum, seq)
);
CREATE UNIQUE INDEX randomization_slots_participant ON randomization_slots(participant_id);
CREATE INDEX randomization_slots_free ON randomization_slots(scheme_id, stratum, participant_id, seq);

-- People allowed to see allocations of a blinded study (for example the unblinded pharmacist).
CREATE TABLE unblinded_team (
    study_id UUID NOT NULL REFERENCES studies(id),
    user_id UUID NOT NULL REFERENCES users(id),
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (study_id, user_id)
);

-- Emergency unblindings: who broke the blind for which participant, when and why.
CREATE TABLE unblindings (
    id UUID PRIMARY KEY,
    participant_id UUID NOT NULL REFERENCES participants(id),
    user_id UUID NOT NULL REFERENCES users(id),
    reason TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
