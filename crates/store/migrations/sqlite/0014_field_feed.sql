-- A clinical specialist's week plan (account visits and cases) as a calendar feed: kind 'field',
-- one per person (scope_key 'field'), without a site. SQLite cannot change a CHECK in place, so
-- the table is rebuilt with every column, constraint and row.
CREATE TABLE calendar_feeds_new (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('staff', 'site', 'field')),
    site_id BLOB REFERENCES sites(id),
    -- 'staff', 'field' or 'site:<site id>': one feed of each kind per person.
    scope_key TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- The address is shown again to its owner (a calendar app asks for it more than once); a new
    -- secret retires it.
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    UNIQUE (user_id, scope_key),
    CHECK ((kind = 'site' AND site_id IS NOT NULL) OR (kind IN ('staff', 'field') AND site_id IS NULL))
);

INSERT INTO calendar_feeds_new (id, user_id, kind, site_id, scope_key, token_hash, secret, created_at, revoked_at)
SELECT id, user_id, kind, site_id, scope_key, token_hash, secret, created_at, revoked_at FROM calendar_feeds;

DROP TABLE calendar_feeds;

ALTER TABLE calendar_feeds_new RENAME TO calendar_feeds;
