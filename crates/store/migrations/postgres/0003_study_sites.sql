-- Participating sites: a study at a site, with its principal investigator, IRB of record,
-- approval and expiry dates, activation date and enrollment target.
CREATE TABLE study_sites (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    site_id UUID NOT NULL REFERENCES sites(id),
    pi_user_id UUID REFERENCES users(id),
    irb_name TEXT NOT NULL DEFAULT '',
    irb_approved_on DATE,
    irb_expires_on DATE,
    activated_on DATE,
    target_enrollment BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (study_id, site_id)
);
CREATE INDEX study_sites_site ON study_sites(site_id);
