-- Field medical affairs.
--
-- Institutions and healthcare professionals (HCPs) with their affiliations; an HCP may be
-- linked to a Clinbridge user (an investigator), which shows their trial activity.
CREATE TABLE medical_institutions (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('academic_medical_center', 'hospital', 'clinic', 'surgical_center')),
    address TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    departments TEXT NOT NULL DEFAULT '[]',
    latitude REAL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL CHECK (longitude BETWEEN -180 AND 180),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (name, city)
);

CREATE TABLE medical_hcps (
    id BLOB PRIMARY KEY,
    npi TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    credentials TEXT NOT NULL DEFAULT '[]',
    specialty TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    user_id BLOB UNIQUE REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX medical_hcps_name ON medical_hcps(last_name, first_name);
CREATE INDEX medical_hcps_specialty ON medical_hcps(specialty);

CREATE TABLE medical_affiliations (
    id BLOB PRIMARY KEY,
    hcp_id BLOB NOT NULL REFERENCES medical_hcps(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT '',
    is_primary INTEGER NOT NULL DEFAULT 0,
    UNIQUE (hcp_id, institution_id, department)
);
CREATE INDEX medical_affiliations_institution ON medical_affiliations(institution_id);

-- KOL profile: tier, therapeutic areas, topics of expertise (JSON lists of labels).
CREATE TABLE medical_kol_profiles (
    hcp_id BLOB PRIMARY KEY REFERENCES medical_hcps(id),
    tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
    therapeutic_areas TEXT NOT NULL DEFAULT '[]',
    topics TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE medical_publications (
    id BLOB PRIMARY KEY,
    hcp_id BLOB NOT NULL REFERENCES medical_hcps(id),
    title TEXT NOT NULL,
    journal TEXT NOT NULL,
    year INTEGER NOT NULL,
    pmid TEXT NOT NULL DEFAULT '',
    doi TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX medical_publications_hcp ON medical_publications(hcp_id, year);
CREATE UNIQUE INDEX medical_publications_pmid ON medical_publications(hcp_id, pmid) WHERE pmid <> '';
CREATE UNIQUE INDEX medical_publications_doi ON medical_publications(hcp_id, doi) WHERE doi <> '';

-- Engagement plan per KOL and period (2026, 2026-H2, 2026-Q3) with its objectives.
CREATE TABLE medical_engagement_plans (
    id BLOB PRIMARY KEY,
    hcp_id BLOB NOT NULL REFERENCES medical_hcps(id),
    period TEXT NOT NULL,
    owner_user_id BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (hcp_id, period)
);

CREATE TABLE medical_plan_objectives (
    id BLOB PRIMARY KEY,
    plan_id BLOB NOT NULL REFERENCES medical_engagement_plans(id),
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    target_count INTEGER,
    done_count INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('not_started', 'in_progress', 'achieved', 'deferred')),
    updated_at TEXT NOT NULL
);
CREATE INDEX medical_plan_objectives_plan ON medical_plan_objectives(plan_id, position);

-- Congresses and events.
CREATE TABLE medical_events (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    place TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE medical_event_attendees (
    event_id BLOB NOT NULL REFERENCES medical_events(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    PRIMARY KEY (event_id, user_id)
);

CREATE TABLE medical_event_sessions (
    id BLOB PRIMARY KEY,
    event_id BLOB NOT NULL REFERENCES medical_events(id),
    title TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    speakers TEXT NOT NULL DEFAULT '[]',
    room TEXT NOT NULL DEFAULT ''
);
CREATE INDEX medical_event_sessions_event ON medical_event_sessions(event_id, starts_at);

-- Interactions: who met whom, how, about what; materials shared as (name, version) JSON.
CREATE TABLE medical_interactions (
    id BLOB PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('in_person', 'phone', 'video', 'email', 'congress')),
    owner_user_id BLOB NOT NULL REFERENCES users(id),
    event_id BLOB REFERENCES medical_events(id),
    topics TEXT NOT NULL DEFAULT '[]',
    products TEXT NOT NULL DEFAULT '[]',
    materials TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX medical_interactions_when ON medical_interactions(occurred_at);
CREATE INDEX medical_interactions_owner ON medical_interactions(owner_user_id, occurred_at);

CREATE TABLE medical_interaction_hcps (
    interaction_id BLOB NOT NULL REFERENCES medical_interactions(id),
    hcp_id BLOB NOT NULL REFERENCES medical_hcps(id),
    PRIMARY KEY (interaction_id, hcp_id)
);
CREATE INDEX medical_interaction_hcps_hcp ON medical_interaction_hcps(hcp_id);

CREATE TABLE medical_interaction_colleagues (
    interaction_id BLOB NOT NULL REFERENCES medical_interactions(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    PRIMARY KEY (interaction_id, user_id)
);

-- Follow-ups promised in an interaction; each is a task (rule key medical.follow_up:{id}).
CREATE TABLE medical_follow_ups (
    id BLOB PRIMARY KEY,
    interaction_id BLOB NOT NULL REFERENCES medical_interactions(id),
    title TEXT NOT NULL,
    due_at TEXT NOT NULL,
    assignee_user_id BLOB NOT NULL REFERENCES users(id),
    task_id BLOB REFERENCES tasks(id),
    done_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX medical_follow_ups_interaction ON medical_follow_ups(interaction_id);

-- Insights heard in an interaction or at an event; tags in their own table for the board.
CREATE TABLE medical_insights (
    id BLOB PRIMARY KEY,
    interaction_id BLOB REFERENCES medical_interactions(id),
    event_id BLOB REFERENCES medical_events(id),
    category TEXT NOT NULL CHECK (category IN ('unmet_need', 'treatment_practice', 'competitive', 'safety_perception', 'trial_design', 'access', 'other')),
    product TEXT NOT NULL DEFAULT '',
    therapeutic_area TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    heard_on TEXT NOT NULL,
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    CHECK ((interaction_id IS NULL) <> (event_id IS NULL))
);
CREATE INDEX medical_insights_heard ON medical_insights(heard_on);

CREATE TABLE medical_insight_tags (
    insight_id BLOB NOT NULL REFERENCES medical_insights(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (insight_id, tag)
);
CREATE INDEX medical_insight_tags_tag ON medical_insight_tags(tag);

-- Medical information requests. Only unsolicited requests exist (the CHECK backs the store's
-- refusal). The requester's signature fixes the question, the requester and the delivery
-- method; a closed request does not change. SLA task: medical.request_sla:{id}.
CREATE TABLE medical_requests (
    id BLOB PRIMARY KEY,
    hcp_id BLOB NOT NULL REFERENCES medical_hcps(id),
    unsolicited INTEGER NOT NULL CHECK (unsolicited = 1),
    questions TEXT NOT NULL,
    products TEXT NOT NULL DEFAULT '[]',
    urgency TEXT NOT NULL CHECK (urgency IN ('routine', 'urgent')),
    received_at TEXT NOT NULL,
    sla_due_at TEXT NOT NULL,
    delivery_method TEXT NOT NULL CHECK (delivery_method IN ('email', 'letter', 'phone', 'in_person')),
    status TEXT NOT NULL CHECK (status IN ('new', 'in_progress', 'answered', 'closed')),
    assigned_user_id BLOB NOT NULL REFERENCES users(id),
    interaction_id BLOB REFERENCES medical_interactions(id),
    response TEXT NOT NULL DEFAULT '',
    response_documents TEXT NOT NULL DEFAULT '[]',
    answered_at TEXT,
    closed_at TEXT,
    signed_name TEXT,
    signed_at TEXT,
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX medical_requests_status ON medical_requests(status, sla_due_at);
CREATE INDEX medical_requests_hcp ON medical_requests(hcp_id);

CREATE TRIGGER medical_requests_signed BEFORE UPDATE ON medical_requests
WHEN OLD.signed_at IS NOT NULL AND (NEW.questions IS NOT OLD.questions OR NEW.hcp_id IS NOT OLD.hcp_id
    OR NEW.delivery_method IS NOT OLD.delivery_method OR NEW.signed_at IS NOT OLD.signed_at
    OR NEW.signed_name IS NOT OLD.signed_name)
BEGIN SELECT RAISE(ABORT, 'a signed medical information request keeps its question, requester and delivery method'); END;
CREATE TRIGGER medical_requests_closed BEFORE UPDATE ON medical_requests
WHEN OLD.status = 'closed'
BEGIN SELECT RAISE(ABORT, 'a closed medical information request does not change'); END;
CREATE TRIGGER medical_requests_kept BEFORE DELETE ON medical_requests
BEGIN SELECT RAISE(ABORT, 'medical information requests are kept'); END;

-- Safety intake from the field: day 0 is the awareness time; the forwarding task is
-- medical.safety_forward:{id}. Once forwarded, an intake never changes.
CREATE TABLE medical_safety_intakes (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('adverse_event', 'product_complaint', 'special_situation')),
    interaction_id BLOB REFERENCES medical_interactions(id),
    hcp_id BLOB REFERENCES medical_hcps(id),
    product TEXT NOT NULL,
    description TEXT NOT NULL,
    patient TEXT NOT NULL DEFAULT '',
    aware_at TEXT NOT NULL,
    clock_hours INTEGER NOT NULL CHECK (clock_hours BETWEEN 1 AND 72),
    forward_due_at TEXT NOT NULL,
    reported_by BLOB NOT NULL REFERENCES users(id),
    forwarded_at TEXT,
    forwarded_by BLOB REFERENCES users(id),
    forwarded_to TEXT,
    forward_reference TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX medical_safety_pending ON medical_safety_intakes(forwarded_at, forward_due_at);

CREATE TRIGGER medical_safety_forwarded BEFORE UPDATE ON medical_safety_intakes
WHEN OLD.forwarded_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a safety intake forwarded to pharmacovigilance does not change'); END;
CREATE TRIGGER medical_safety_kept BEFORE DELETE ON medical_safety_intakes
BEGIN SELECT RAISE(ABORT, 'safety intakes are kept'); END;

-- The organization's forwarding clock for safety intake, in hours.
ALTER TABLE organizations ADD COLUMN safety_forward_hours INTEGER NOT NULL DEFAULT 24;
