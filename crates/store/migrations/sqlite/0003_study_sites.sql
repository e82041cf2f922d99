-- Participating sites: a study at a site, with its principal investigator, IRB of record,
-- approval and expiry dates, activation date and enrollment target.
CREATE TABLE study_sites (
    id BLOB PRIMARY KEY,
    study_id BLOB NOT NULL REFERENCES studies(id),
    site_id BLOB NOT NULL REFERENCES sites(id),
    pi_user_id BLOB REFERENCES users(id),
    irb_name TEXT NOT NULL DEFAULT '',
    irb_approved_on TEXT,
    irb_expires_on TEXT,
    activated_on TEXT,
    target_enrollment INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (study_id, site_id)
);
CREATE INDEX study_sites_site ON study_sites(site_id);
