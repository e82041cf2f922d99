-- A clinical specialist's week plan (account visits and cases) as a calendar feed: kind 'field',
-- one per person (scope_key 'field'), without a site.
ALTER TABLE calendar_feeds DROP CONSTRAINT IF EXISTS calendar_feeds_kind_check;
ALTER TABLE calendar_feeds DROP CONSTRAINT IF EXISTS calendar_feeds_check;
ALTER TABLE calendar_feeds ADD CONSTRAINT calendar_feeds_kind_check CHECK (kind IN ('staff', 'site', 'field'));
ALTER TABLE calendar_feeds ADD CONSTRAINT calendar_feeds_check
    CHECK ((kind = 'site' AND site_id IS NOT NULL) OR (kind IN ('staff', 'field') AND site_id IS NULL));
