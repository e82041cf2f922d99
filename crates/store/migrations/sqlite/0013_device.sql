-- Device field support: products and the installed base at accounts (the medical context's
-- institutions), facility credentials of clinical specialists, case coverage, support tickets
-- and complaints with their reporting clock, in-service training, product feedback and
-- territories. Every row carries its organization; reads are narrowed to the reader's.

-- Minutes kept free between two cases of one specialist (travel between facilities).
ALTER TABLE organizations ADD COLUMN case_travel_buffer_minutes INTEGER NOT NULL DEFAULT 60
    CHECK (case_travel_buffer_minutes BETWEEN 0 AND 720);

CREATE TABLE device_products (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    software_version TEXT NOT NULL DEFAULT '',
    udi_di TEXT NOT NULL,
    udi_issuer TEXT NOT NULL CHECK (udi_issuer IN ('gs1', 'hibcc')),
    certificate_months INTEGER NOT NULL CHECK (certificate_months BETWEEN 1 AND 60),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, udi_di)
);

CREATE TABLE device_installed (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    product_id BLOB NOT NULL REFERENCES device_products(id),
    serial TEXT NOT NULL,
    installed_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'loaner', 'service', 'decommissioned')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (product_id, serial)
);
CREATE INDEX device_installed_institution ON device_installed(institution_id);

-- A specialist's credential at a facility; documents are a JSON list of {name, received}.
-- Renewal task: device.credential_renewal:{id}, due 30 days before expiry.
CREATE TABLE device_credentials (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    name TEXT NOT NULL,
    documents TEXT NOT NULL DEFAULT '[]',
    issued_on TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (expires_on > issued_on)
);
CREATE INDEX device_credentials_user ON device_credentials(user_id, institution_id);

-- Case coverage: a procedure a specialist attends. product_ids is a JSON list.
CREATE TABLE device_cases (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    surgeon_hcp_id BLOB REFERENCES medical_hcps(id),
    procedure_type TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    product_ids TEXT NOT NULL DEFAULT '[]',
    specialist_user_id BLOB REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('requested', 'confirmed', 'covered', 'cancelled')),
    notes TEXT NOT NULL DEFAULT '',
    outcome_notes TEXT NOT NULL DEFAULT '',
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK (status = 'requested' OR status = 'cancelled' OR specialist_user_id IS NOT NULL)
);
CREATE INDEX device_cases_specialist ON device_cases(specialist_user_id, starts_at);
CREATE INDEX device_cases_when ON device_cases(org_id, starts_at);

CREATE TABLE device_tickets (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    product_id BLOB NOT NULL REFERENCES device_products(id),
    serial_or_lot TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'resolved', 'closed')),
    resolution TEXT NOT NULL DEFAULT '',
    opened_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    closed_at TEXT
);
CREATE INDEX device_tickets_status ON device_tickets(org_id, status);

-- The troubleshooting log: append-only.
CREATE TABLE device_ticket_entries (
    id BLOB PRIMARY KEY,
    ticket_id BLOB NOT NULL REFERENCES device_tickets(id),
    author_user_id BLOB REFERENCES users(id),
    at TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX device_ticket_entries_ticket ON device_ticket_entries(ticket_id, at);
CREATE TRIGGER device_ticket_entries_no_update BEFORE UPDATE ON device_ticket_entries
BEGIN SELECT RAISE(ABORT, 'the troubleshooting log is append-only'); END;
CREATE TRIGGER device_ticket_entries_no_delete BEFORE DELETE ON device_ticket_entries
BEGIN SELECT RAISE(ABORT, 'the troubleshooting log is append-only'); END;

-- Complaints (ISO 13485 8.2.2, 21 CFR 820.198), one per escalated ticket. The reportability
-- decision sets the clock (30 calendar days, or 5 work days with remedial action) and the task
-- device.complaint_report:{id}. A closed complaint never changes.
CREATE TABLE device_complaints (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    ticket_id BLOB NOT NULL UNIQUE REFERENCES device_tickets(id),
    device_name TEXT NOT NULL,
    udi TEXT NOT NULL DEFAULT '',
    received_on TEXT NOT NULL,
    aware_on TEXT NOT NULL,
    complainant_name TEXT NOT NULL,
    complainant_contact TEXT NOT NULL,
    nature TEXT NOT NULL,
    details TEXT NOT NULL,
    investigation TEXT NOT NULL DEFAULT '',
    no_investigation_reason TEXT NOT NULL DEFAULT '',
    corrective_action TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    reportability TEXT CHECK (reportability IN ('death', 'serious_injury', 'malfunction', 'not_reportable')),
    remedial_action INTEGER NOT NULL DEFAULT 0,
    rationale TEXT NOT NULL DEFAULT '',
    report_clock TEXT CHECK (report_clock IN ('30_calendar_days', '5_work_days')),
    report_due_on TEXT,
    decided_at TEXT,
    decided_by BLOB REFERENCES users(id),
    reported_on TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at TEXT,
    closed_by BLOB REFERENCES users(id),
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (status = 'open' OR ((investigation <> '' OR no_investigation_reason <> '') AND reply <> '' AND reportability IS NOT NULL))
);
CREATE INDEX device_complaints_due ON device_complaints(org_id, status, report_due_on);
CREATE TRIGGER device_complaints_closed BEFORE UPDATE ON device_complaints
WHEN OLD.status = 'closed'
BEGIN SELECT RAISE(ABORT, 'a closed complaint does not change'); END;
CREATE TRIGGER device_complaints_kept BEFORE DELETE ON device_complaints
BEGIN SELECT RAISE(ABORT, 'complaints are kept'); END;

-- In-service training: competencies a JSON list; attendees are hospital staff.
CREATE TABLE device_trainings (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    department TEXT NOT NULL DEFAULT '',
    product_id BLOB NOT NULL REFERENCES device_products(id),
    competencies TEXT NOT NULL DEFAULT '[]',
    held_on TEXT NOT NULL,
    trainer_user_id BLOB NOT NULL REFERENCES users(id),
    validity_months INTEGER NOT NULL CHECK (validity_months BETWEEN 1 AND 60),
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX device_trainings_institution ON device_trainings(institution_id, held_on);

-- Certificate: set once every competency is signed by trainer and trainee; its re-training
-- task is device.retraining:{attendee id}.
CREATE TABLE device_training_attendees (
    id BLOB PRIMARY KEY,
    training_id BLOB NOT NULL REFERENCES device_trainings(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    certificate_expires_on TEXT,
    UNIQUE (training_id, name)
);

-- One row per attendee and competency; each side signs once with a typed name.
CREATE TABLE device_signoffs (
    id BLOB PRIMARY KEY,
    training_id BLOB NOT NULL REFERENCES device_trainings(id),
    attendee_id BLOB NOT NULL REFERENCES device_training_attendees(id),
    competency TEXT NOT NULL,
    trainer_name TEXT,
    trainer_signed_at TEXT,
    trainee_name TEXT,
    trainee_signed_at TEXT,
    UNIQUE (attendee_id, competency)
);
CREATE TRIGGER device_signoffs_signed BEFORE UPDATE ON device_signoffs
WHEN (OLD.trainer_signed_at IS NOT NULL AND (NEW.trainer_signed_at IS NOT OLD.trainer_signed_at OR NEW.trainer_name IS NOT OLD.trainer_name))
    OR (OLD.trainee_signed_at IS NOT NULL AND (NEW.trainee_signed_at IS NOT OLD.trainee_signed_at OR NEW.trainee_name IS NOT OLD.trainee_name))
BEGIN SELECT RAISE(ABORT, 'a competency sign-off does not change once signed'); END;
CREATE TRIGGER device_signoffs_kept BEFORE DELETE ON device_signoffs
BEGIN SELECT RAISE(ABORT, 'competency sign-offs are kept'); END;

CREATE TABLE device_feedback (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    product_id BLOB NOT NULL REFERENCES device_products(id),
    category TEXT NOT NULL CHECK (category IN ('usability', 'feature', 'reliability', 'labeling', 'packaging', 'training', 'other')),
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'under_review', 'planned', 'declined', 'shipped')),
    created_by BLOB REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX device_feedback_product ON device_feedback(org_id, product_id, category);

CREATE TABLE device_feedback_votes (
    feedback_id BLOB NOT NULL REFERENCES device_feedback(id),
    user_id BLOB NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (feedback_id, user_id)
);

-- Territory: the accounts a specialist covers, and visits planned and done.
CREATE TABLE device_territory (
    user_id BLOB NOT NULL REFERENCES users(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    org_id BLOB NOT NULL REFERENCES organizations(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, institution_id)
);

CREATE TABLE device_visits (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    specialist_user_id BLOB NOT NULL REFERENCES users(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    planned_at TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    done_at TEXT,
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX device_visits_specialist ON device_visits(specialist_user_id, planned_at);

-- Courses with modules and continuing-education credits; enrolled hospital staff and their
-- module completions. An enrollment is complete (and earns the credits) once every module is.
CREATE TABLE device_courses (
    id BLOB PRIMARY KEY,
    org_id BLOB NOT NULL REFERENCES organizations(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    product_id BLOB REFERENCES device_products(id),
    credits REAL NOT NULL CHECK (credits BETWEEN 0 AND 100),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, title)
);

CREATE TABLE device_course_modules (
    id BLOB PRIMARY KEY,
    course_id BLOB NOT NULL REFERENCES device_courses(id),
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    UNIQUE (course_id, position)
);

CREATE TABLE device_enrollments (
    id BLOB PRIMARY KEY,
    course_id BLOB NOT NULL REFERENCES device_courses(id),
    institution_id BLOB NOT NULL REFERENCES medical_institutions(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    enrolled_at TEXT NOT NULL,
    completed_at TEXT,
    UNIQUE (course_id, institution_id, name)
);

CREATE TABLE device_module_completions (
    enrollment_id BLOB NOT NULL REFERENCES device_enrollments(id),
    module_id BLOB NOT NULL REFERENCES device_course_modules(id),
    completed_at TEXT NOT NULL,
    recorded_by BLOB REFERENCES users(id),
    PRIMARY KEY (enrollment_id, module_id)
);
