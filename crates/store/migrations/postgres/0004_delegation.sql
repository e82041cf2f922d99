-- Study team and delegation log: who does what on a study at a site, from when to when. Each
-- entry is signed by the site's principal investigator (signatures table, record type
-- delegation_entry); a changed entry needs signing again.
CREATE TABLE delegation_entries (
    id UUID PRIMARY KEY,
    study_id UUID NOT NULL REFERENCES studies(id),
    site_id UUID NOT NULL REFERENCES sites(id),
    user_id UUID NOT NULL REFERENCES users(id),
    study_role TEXT NOT NULL,
    duties TEXT NOT NULL,
    start_on DATE NOT NULL,
    end_on DATE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX delegation_entries_study_site ON delegation_entries(study_id, site_id);
