-- Scheduling calendar: the rooms, equipment and staff of a site with their weekly hours in the
-- site's local time (minutes since midnight, weekday 0 = Monday); a participant visit's
-- scheduled day and, once booked, its start and end (UTC) and the resources it holds; calendar
-- feeds reached by a secret (looked up by its SHA-256, shown again only to its owner).
CREATE TABLE resources (
    id BLOB PRIMARY KEY,
    site_id BLOB NOT NULL REFERENCES sites(id),
    kind TEXT NOT NULL CHECK (kind IN ('room', 'equipment', 'staff')),
    name TEXT NOT NULL,
    user_id BLOB REFERENCES users(id),
    active INTEGER NOT NULL DEFAULT 1,
    -- Advanced by every booking that holds the resource: the row lock serializes bookings.
    booking_seq INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (site_id, name),
    CHECK ((kind = 'staff' AND user_id IS NOT NULL) OR (kind <> 'staff' AND user_id IS NULL))
);
CREATE TABLE resource_hours (
    resource_id BLOB NOT NULL REFERENCES resources(id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    from_minute INTEGER NOT NULL CHECK (from_minute BETWEEN 0 AND 1439),
    to_minute INTEGER NOT NULL CHECK (to_minute BETWEEN 1 AND 1440),
    CHECK (from_minute < to_minute),
    PRIMARY KEY (resource_id, weekday, from_minute)
);
ALTER TABLE participant_visits ADD COLUMN scheduled_on TEXT;
ALTER TABLE participant_visits ADD COLUMN starts_at TEXT;
ALTER TABLE participant_visits ADD COLUMN ends_at TEXT;
ALTER TABLE participant_visits ADD COLUMN closing_noticed_at TEXT;
CREATE INDEX participant_visits_starts ON participant_visits(starts_at);
CREATE TABLE visit_resources (
    visit_id BLOB NOT NULL REFERENCES participant_visits(id),
    resource_id BLOB NOT NULL REFERENCES resources(id),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    PRIMARY KEY (visit_id, resource_id)
);
CREATE INDEX visit_resources_by_resource ON visit_resources(resource_id, starts_at);
CREATE TABLE calendar_feeds (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('staff', 'site')),
    site_id BLOB REFERENCES sites(id),
    -- 'staff' or 'site:<site id>': one feed of each kind per person.
    scope_key TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- The address is shown again to its owner (a calendar app asks for it more than once); it
    -- opens booked visits by subject id and visit code only, and a new secret retires it.
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    UNIQUE (user_id, scope_key),
    CHECK ((kind = 'site' AND site_id IS NOT NULL) OR (kind = 'staff' AND site_id IS NULL))
);
