-- Field medical affairs.
--
-- Institutions and healthcare professionals (HCPs) with their affiliations; an HCP may be
-- linked to a Clinbridge user (an investigator), which shows their trial activity.
CREATE TABLE medical_institutions (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('academic_medical_center', 'hospital', 'clinic', 'surgical_center')),
    address TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    departments TEXT NOT NULL DEFAULT '[]',
    latitude DOUBLE PRECISION CHECK (latitude BETWEEN -90 AND 90),
    longitude DOUBLE PRECISION CHECK (longitude BETWEEN -180 AND 180),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (name, city)
);

CREATE TABLE medical_hcps (
    id UUID PRIMARY KEY,
    npi TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    credentials TEXT NOT NULL DEFAULT '[]',
    specialty TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    user_id UUID UNIQUE REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_hcps_name ON medical_hcps(last_name, first_name);
CREATE INDEX medical_hcps_specialty ON medical_hcps(specialty);

CREATE TABLE medical_affiliations (
    id UUID PRIMARY KEY,
    hcp_id UUID NOT NULL REFERENCES medical_hcps(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT '',
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (hcp_id, institution_id, department)
);
CREATE INDEX medical_affiliations_institution ON medical_affiliations(institution_id);

-- KOL profile: tier, therapeutic areas, topics of expertise (JSON lists of labels).
CREATE TABLE medical_kol_profiles (
    hcp_id UUID PRIMARY KEY REFERENCES medical_hcps(id),
    tier BIGINT NOT NULL CHECK (tier BETWEEN 1 AND 3),
    therapeutic_areas TEXT NOT NULL DEFAULT '[]',
    topics TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE medical_publications (
    id UUID PRIMARY KEY,
    hcp_id UUID NOT NULL REFERENCES medical_hcps(id),
    title TEXT NOT NULL,
    journal TEXT NOT NULL,
    year BIGINT NOT NULL,
    pmid TEXT NOT NULL DEFAULT '',
    doi TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_publications_hcp ON medical_publications(hcp_id, year);
CREATE UNIQUE INDEX medical_publications_pmid ON medical_publications(hcp_id, pmid) WHERE pmid <> '';
CREATE UNIQUE INDEX medical_publications_doi ON medical_publications(hcp_id, doi) WHERE doi <> '';

-- Engagement plan per KOL and period (2026, 2026-H2, 2026-Q3) with its objectives.
CREATE TABLE medical_engagement_plans (
    id UUID PRIMARY KEY,
    hcp_id UUID NOT NULL REFERENCES medical_hcps(id),
    period TEXT NOT NULL,
    owner_user_id UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (hcp_id, period)
);

CREATE TABLE medical_plan_objectives (
    id UUID PRIMARY KEY,
    plan_id UUID NOT NULL REFERENCES medical_engagement_plans(id),
    position BIGINT NOT NULL,
    text TEXT NOT NULL,
    target_count BIGINT,
    done_count BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('not_started', 'in_progress', 'achieved', 'deferred')),
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_plan_objectives_plan ON medical_plan_objectives(plan_id, position);

-- Congresses and events.
CREATE TABLE medical_events (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL,
    place TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE medical_event_attendees (
    event_id UUID NOT NULL REFERENCES medical_events(id),
    user_id UUID NOT NULL REFERENCES users(id),
    PRIMARY KEY (event_id, user_id)
);

CREATE TABLE medical_event_sessions (
    id UUID PRIMARY KEY,
    event_id UUID NOT NULL REFERENCES medical_events(id),
    title TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    speakers TEXT NOT NULL DEFAULT '[]',
    room TEXT NOT NULL DEFAULT ''
);
CREATE INDEX medical_event_sessions_event ON medical_event_sessions(event_id, starts_at);

-- Interactions: who met whom, how, about what; materials shared as (name, version) JSON.
CREATE TABLE medical_interactions (
    id UUID PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('in_person', 'phone', 'video', 'email', 'congress')),
    owner_user_id UUID NOT NULL REFERENCES users(id),
    event_id UUID REFERENCES medical_events(id),
    topics TEXT NOT NULL DEFAULT '[]',
    products TEXT NOT NULL DEFAULT '[]',
    materials TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_interactions_when ON medical_interactions(occurred_at);
CREATE INDEX medical_interactions_owner ON medical_interactions(owner_user_id, occurred_at);

CREATE TABLE medical_interaction_hcps (
    interaction_id UUID NOT NULL REFERENCES medical_interactions(id),
    hcp_id UUID NOT NULL REFERENCES medical_hcps(id),
    PRIMARY KEY (interaction_id, hcp_id)
);
CREATE INDEX medical_interaction_hcps_hcp ON medical_interaction_hcps(hcp_id);

CREATE TABLE medical_interaction_colleagues (
    interaction_id UUID NOT NULL REFERENCES medical_interactions(id),
    user_id UUID NOT NULL REFERENCES users(id),
    PRIMARY KEY (interaction_id, user_id)
);

-- Follow-ups promised in an interaction; each is a task (rule key medical.follow_up:{id}).
CREATE TABLE medical_follow_ups (
    id UUID PRIMARY KEY,
    interaction_id UUID NOT NULL REFERENCES medical_interactions(id),
    title TEXT NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    assignee_user_id UUID NOT NULL REFERENCES users(id),
    task_id UUID REFERENCES tasks(id),
    done_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_follow_ups_interaction ON medical_follow_ups(interaction_id);

-- Insights heard in an interaction or at an event; tags in their own table for the board.
CREATE TABLE medical_insights (
    id UUID PRIMARY KEY,
    interaction_id UUID REFERENCES medical_interactions(id),
    event_id UUID REFERENCES medical_events(id),
    category TEXT NOT NULL CHECK (category IN ('unmet_need', 'treatment_practice', 'competitive', 'safety_perception', 'trial_design', 'access', 'other')),
    product TEXT NOT NULL DEFAULT '',
    therapeutic_area TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    heard_on DATE NOT NULL,
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((interaction_id IS NULL) <> (event_id IS NULL))
);
CREATE INDEX medical_insights_heard ON medical_insights(heard_on);

CREATE TABLE medical_insight_tags (
    insight_id UUID NOT NULL REFERENCES medical_insights(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (insight_id, tag)
);
CREATE INDEX medical_insight_tags_tag ON medical_insight_tags(tag);

-- Medical information requests. Only unsolicited requests exist (the CHECK backs the store's
-- refusal). The requester's signature fixes the question, the requester and the delivery
-- method; a closed request does not change. SLA task: medical.request_sla:{id}.
CREATE TABLE medical_requests (
    id UUID PRIMARY KEY,
    hcp_id UUID NOT NULL REFERENCES medical_hcps(id),
    unsolicited BOOLEAN NOT NULL CHECK (unsolicited),
    questions TEXT NOT NULL,
    products TEXT NOT NULL DEFAULT '[]',
    urgency TEXT NOT NULL CHECK (urgency IN ('routine', 'urgent')),
    received_at TIMESTAMPTZ NOT NULL,
    sla_due_at TIMESTAMPTZ NOT NULL,
    delivery_method TEXT NOT NULL CHECK (delivery_method IN ('email', 'letter', 'phone', 'in_person')),
    status TEXT NOT NULL CHECK (status IN ('new', 'in_progress', 'answered', 'closed')),
    assigned_user_id UUID NOT NULL REFERENCES users(id),
    interaction_id UUID REFERENCES medical_interactions(id),
    response TEXT NOT NULL DEFAULT '',
    response_documents TEXT NOT NULL DEFAULT '[]',
    answered_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    signed_name TEXT,
    signed_at TIMESTAMPTZ,
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_requests_status ON medical_requests(status, sla_due_at);
CREATE INDEX medical_requests_hcp ON medical_requests(hcp_id);

CREATE FUNCTION medical_requests_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'medical information requests are kept';
    END IF;
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'a closed medical information request does not change';
    END IF;
    IF OLD.signed_at IS NOT NULL AND (NEW.questions IS DISTINCT FROM OLD.questions
        OR NEW.hcp_id IS DISTINCT FROM OLD.hcp_id OR NEW.delivery_method IS DISTINCT FROM OLD.delivery_method
        OR NEW.signed_at IS DISTINCT FROM OLD.signed_at OR NEW.signed_name IS DISTINCT FROM OLD.signed_name) THEN
        RAISE EXCEPTION 'a signed medical information request keeps its question, requester and delivery method';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER medical_requests_guard BEFORE UPDATE OR DELETE ON medical_requests
FOR EACH ROW EXECUTE FUNCTION medical_requests_guard();

-- Safety intake from the field: day 0 is the awareness time; the forwarding task is
-- medical.safety_forward:{id}. Once forwarded, an intake never changes.
CREATE TABLE medical_safety_intakes (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('adverse_event', 'product_complaint', 'special_situation')),
    interaction_id UUID REFERENCES medical_interactions(id),
    hcp_id UUID REFERENCES medical_hcps(id),
    product TEXT NOT NULL,
    description TEXT NOT NULL,
    patient TEXT NOT NULL DEFAULT '',
    aware_at TIMESTAMPTZ NOT NULL,
    clock_hours BIGINT NOT NULL CHECK (clock_hours BETWEEN 1 AND 72),
    forward_due_at TIMESTAMPTZ NOT NULL,
    reported_by UUID NOT NULL REFERENCES users(id),
    forwarded_at TIMESTAMPTZ,
    forwarded_by UUID REFERENCES users(id),
    forwarded_to TEXT,
    forward_reference TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX medical_safety_pending ON medical_safety_intakes(forwarded_at, forward_due_at);

CREATE FUNCTION medical_safety_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'safety intakes are kept';
    END IF;
    IF OLD.forwarded_at IS NOT NULL THEN
        RAISE EXCEPTION 'a safety intake forwarded to pharmacovigilance does not change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER medical_safety_guard BEFORE UPDATE OR DELETE ON medical_safety_intakes
FOR EACH ROW EXECUTE FUNCTION medical_safety_guard();

-- The organization's forwarding clock for safety intake, in hours.
ALTER TABLE organizations ADD COLUMN safety_forward_hours BIGINT NOT NULL DEFAULT 24;
