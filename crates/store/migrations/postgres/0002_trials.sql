-- Trials: the descriptive fields of a study, its arms and its protocol versions.
ALTER TABLE studies ADD COLUMN short_title TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN protocol_number TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN phase TEXT NOT NULL DEFAULT 'not_applicable';
ALTER TABLE studies ADD COLUMN sponsor TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN registry_id TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN ind_ide TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN therapeutic_area TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN target_enrollment BIGINT NOT NULL DEFAULT 0;

CREATE TABLE study_arms (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    allocation_ratio BIGINT NOT NULL CHECK (allocation_ratio BETWEEN 1 AND 10),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, code)
);

CREATE TABLE protocol_versions (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    version TEXT NOT NULL,
    amendment TEXT NOT NULL DEFAULT '',
    effective_on DATE NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, version)
);
CREATE INDEX protocol_versions_study ON protocol_versions(study_id, effective_on);
