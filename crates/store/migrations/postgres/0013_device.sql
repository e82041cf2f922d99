-- Device field support: products and the installed base at accounts (the medical context's
-- institutions), facility credentials of clinical specialists, case coverage, support tickets
-- and complaints with their reporting clock, in-service training, product feedback and
-- territories. Every row carries its organization; reads are narrowed to the reader's.

-- Minutes kept free between two cases of one specialist (travel between facilities).
ALTER TABLE organizations ADD COLUMN case_travel_buffer_minutes BIGINT NOT NULL DEFAULT 60
    CHECK (case_travel_buffer_minutes BETWEEN 0 AND 720);

CREATE TABLE device_products (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    software_version TEXT NOT NULL DEFAULT '',
    udi_di TEXT NOT NULL,
    udi_issuer TEXT NOT NULL CHECK (udi_issuer IN ('gs1', 'hibcc')),
    certificate_months BIGINT NOT NULL CHECK (certificate_months BETWEEN 1 AND 60),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, udi_di)
);

CREATE TABLE device_installed (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    product_id UUID NOT NULL REFERENCES device_products(id),
    serial TEXT NOT NULL,
    installed_on DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'loaner', 'service', 'decommissioned')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (product_id, serial)
);
CREATE INDEX device_installed_institution ON device_installed(institution_id);

-- A specialist's credential at a facility; documents are a JSON list of {name, received}.
-- Renewal task: device.credential_renewal:{id}, due 30 days before expiry.
CREATE TABLE device_credentials (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    user_id UUID NOT NULL REFERENCES users(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    name TEXT NOT NULL,
    documents TEXT NOT NULL DEFAULT '[]',
    issued_on DATE NOT NULL,
    expires_on DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK (expires_on > issued_on)
);
CREATE INDEX device_credentials_user ON device_credentials(user_id, institution_id);

-- Case coverage: a procedure a specialist attends. product_ids is a JSON list.
CREATE TABLE device_cases (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    surgeon_hcp_id UUID REFERENCES medical_hcps(id),
    procedure_type TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    duration_minutes BIGINT NOT NULL,
    product_ids TEXT NOT NULL DEFAULT '[]',
    specialist_user_id UUID REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('requested', 'confirmed', 'covered', 'cancelled')),
    notes TEXT NOT NULL DEFAULT '',
    outcome_notes TEXT NOT NULL DEFAULT '',
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK (status = 'requested' OR status = 'cancelled' OR specialist_user_id IS NOT NULL)
);
CREATE INDEX device_cases_specialist ON device_cases(specialist_user_id, starts_at);
CREATE INDEX device_cases_when ON device_cases(org_id, starts_at);

CREATE TABLE device_tickets (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    product_id UUID NOT NULL REFERENCES device_products(id),
    serial_or_lot TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'resolved', 'closed')),
    resolution TEXT NOT NULL DEFAULT '',
    opened_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ
);
CREATE INDEX device_tickets_status ON device_tickets(org_id, status);

-- The troubleshooting log: append-only.
CREATE TABLE device_ticket_entries (
    id UUID PRIMARY KEY,
    ticket_id UUID NOT NULL REFERENCES device_tickets(id),
    author_user_id UUID REFERENCES users(id),
    at TIMESTAMPTZ NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX device_ticket_entries_ticket ON device_ticket_entries(ticket_id, at);
CREATE FUNCTION device_ticket_entries_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the troubleshooting log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER device_ticket_entries_guard BEFORE UPDATE OR DELETE ON device_ticket_entries
FOR EACH ROW EXECUTE FUNCTION device_ticket_entries_guard();

-- Complaints (ISO 13485 8.2.2, 21 CFR 820.198), one per escalated ticket. The reportability
-- decision sets the clock (30 calendar days, or 5 work days with remedial action) and the task
-- device.complaint_report:{id}. A closed complaint never changes.
CREATE TABLE device_complaints (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    ticket_id UUID NOT NULL UNIQUE REFERENCES device_tickets(id),
    device_name TEXT NOT NULL,
    udi TEXT NOT NULL DEFAULT '',
    received_on DATE NOT NULL,
    aware_on DATE NOT NULL,
    complainant_name TEXT NOT NULL,
    complainant_contact TEXT NOT NULL,
    nature TEXT NOT NULL,
    details TEXT NOT NULL,
    investigation TEXT NOT NULL DEFAULT '',
    no_investigation_reason TEXT NOT NULL DEFAULT '',
    corrective_action TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    reportability TEXT CHECK (reportability IN ('death', 'serious_injury', 'malfunction', 'not_reportable')),
    remedial_action BOOLEAN NOT NULL DEFAULT FALSE,
    rationale TEXT NOT NULL DEFAULT '',
    report_clock TEXT CHECK (report_clock IN ('30_calendar_days', '5_work_days')),
    report_due_on DATE,
    decided_at TIMESTAMPTZ,
    decided_by UUID REFERENCES users(id),
    reported_on DATE,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at TIMESTAMPTZ,
    closed_by UUID REFERENCES users(id),
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK (status = 'open' OR ((investigation <> '' OR no_investigation_reason <> '') AND reply <> '' AND reportability IS NOT NULL))
);
CREATE INDEX device_complaints_due ON device_complaints(org_id, status, report_due_on);
CREATE FUNCTION device_complaints_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'complaints are kept';
    END IF;
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'a closed complaint does not change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER device_complaints_guard BEFORE UPDATE OR DELETE ON device_complaints
FOR EACH ROW EXECUTE FUNCTION device_complaints_guard();

-- In-service training: competencies a JSON list; attendees are hospital staff.
CREATE TABLE device_trainings (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    product_id UUID NOT NULL REFERENCES device_products(id),
    competencies TEXT NOT NULL DEFAULT '[]',
    held_on DATE NOT NULL,
    trainer_user_id UUID NOT NULL REFERENCES users(id),
    validity_months BIGINT NOT NULL CHECK (validity_months BETWEEN 1 AND 60),
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_trainings_institution ON device_trainings(institution_id, held_on);

-- Certificate: set once every competency is signed by trainer and trainee; its re-training
-- task is device.retraining:{attendee id}.
CREATE TABLE device_training_attendees (
    id UUID PRIMARY KEY,
    training_id UUID NOT NULL REFERENCES device_trainings(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    certificate_expires_on DATE,
    UNIQUE (training_id, name)
);

-- One row per attendee and competency; each side signs once with a typed name.
CREATE TABLE device_signoffs (
    id UUID PRIMARY KEY,
    training_id UUID NOT NULL REFERENCES device_trainings(id),
    attendee_id UUID NOT NULL REFERENCES device_training_attendees(id),
    competency TEXT NOT NULL,
    trainer_name TEXT,
    trainer_signed_at TIMESTAMPTZ,
    trainee_name TEXT,
    trainee_signed_at TIMESTAMPTZ,
    UNIQUE (attendee_id, competency)
);
CREATE FUNCTION device_signoffs_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'competency sign-offs are kept';
    END IF;
    IF (OLD.trainer_signed_at IS NOT NULL AND (NEW.trainer_signed_at IS DISTINCT FROM OLD.trainer_signed_at OR NEW.trainer_name IS DISTINCT FROM OLD.trainer_name))
        OR (OLD.trainee_signed_at IS NOT NULL AND (NEW.trainee_signed_at IS DISTINCT FROM OLD.trainee_signed_at OR NEW.trainee_name IS DISTINCT FROM OLD.trainee_name)) THEN
        RAISE EXCEPTION 'a competency sign-off does not change once signed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER device_signoffs_guard BEFORE UPDATE OR DELETE ON device_signoffs
FOR EACH ROW EXECUTE FUNCTION device_signoffs_guard();

CREATE TABLE device_feedback (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    product_id UUID NOT NULL REFERENCES device_products(id),
    category TEXT NOT NULL CHECK (category IN ('usability', 'feature', 'reliability', 'labeling', 'packaging', 'training', 'other')),
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'under_review', 'planned', 'declined', 'shipped')),
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_feedback_product ON device_feedback(org_id, product_id, category);

CREATE TABLE device_feedback_votes (
    feedback_id UUID NOT NULL REFERENCES device_feedback(id),
    user_id UUID NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (feedback_id, user_id)
);

-- Territory: the accounts a specialist covers, and visits planned and done.
CREATE TABLE device_territory (
    user_id UUID NOT NULL REFERENCES users(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    org_id UUID NOT NULL REFERENCES organizations(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, institution_id)
);

CREATE TABLE device_visits (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    specialist_user_id UUID NOT NULL REFERENCES users(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    planned_at TIMESTAMPTZ NOT NULL,
    duration_minutes BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    done_at TIMESTAMPTZ,
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_visits_specialist ON device_visits(specialist_user_id, planned_at);

-- Courses with modules and continuing-education credits; enrolled hospital staff and their
-- module completions. An enrollment is complete (and earns the credits) once every module is.
CREATE TABLE device_courses (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    product_id UUID REFERENCES device_products(id),
    credits DOUBLE PRECISION NOT NULL CHECK (credits BETWEEN 0 AND 100),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, title)
);

CREATE TABLE device_course_modules (
    id UUID PRIMARY KEY,
    course_id UUID NOT NULL REFERENCES device_courses(id),
    position BIGINT NOT NULL,
    title TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    UNIQUE (course_id, position)
);

CREATE TABLE device_enrollments (
    id UUID PRIMARY KEY,
    course_id UUID NOT NULL REFERENCES device_courses(id),
    institution_id UUID NOT NULL REFERENCES medical_institutions(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    enrolled_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    UNIQUE (course_id, institution_id, name)
);

CREATE TABLE device_module_completions (
    enrollment_id UUID NOT NULL REFERENCES device_enrollments(id),
    module_id UUID NOT NULL REFERENCES device_course_modules(id),
    completed_at TIMESTAMPTZ NOT NULL,
    recorded_by UUID REFERENCES users(id),
    PRIMARY KEY (enrollment_id, module_id)
);
