-- Files of EDC file-upload fields (REDCap's `import_file`): one per form instance and field.
-- The field's value in edc_values is the file name, so exports show it; the bytes, their type
-- and their SHA-256 live here. Every upload and removal is audited on the form (`edc_form`);
-- deleting a record's forms takes their files with them.
CREATE TABLE edc_files (
    form_id BLOB NOT NULL REFERENCES edc_forms(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_by BLOB REFERENCES users(id),
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (form_id, field)
);
