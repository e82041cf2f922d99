//! The OpenAPI 3 document, generated from the handlers' annotations.

use crate::api;
use crate::error::{ErrorBody, ErrorDetail, FieldErrorOut};
use axum::Json;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Clinbridge API", description = "Clinical operations platform: JSON API. Authenticate with a session cookie (POST /api/v1/session) or an API token as `Authorization: Bearer`."),
    paths(
        api::identity::login, api::identity::logout, api::identity::me,
        api::identity::list_users, api::identity::create_user, api::identity::get_user,
        api::identity::deactivate_user, api::identity::activate_user, api::identity::add_grant, api::identity::remove_grant,
        api::identity::list_sites, api::identity::create_site, api::identity::get_site, api::identity::update_site,
        api::identity::list_tokens, api::identity::create_token, api::identity::revoke_token,
        api::audit::search, api::audit::export_csv,
        api::tasks::queue, api::tasks::create, api::tasks::get, api::tasks::set_status,
        api::tasks::notifications, api::tasks::mark_read,
        api::trials::list, api::trials::create, api::trials::get, api::trials::update, api::trials::set_status,
        api::trials::add_arm, api::trials::add_protocol_version,
        api::trials::list_sites, api::trials::add_site, api::trials::update_site,
        api::trials::delegation_log, api::trials::add_delegation, api::trials::sign_delegation, api::trials::end_delegation,
        api::schedule::list, api::schedule::create, api::schedule::update, api::schedule::remove,
        api::participants::list, api::participants::create, api::participants::get, api::participants::contact,
        api::participants::update_contact, api::participants::set_status, api::participants::assess,
        api::participants::sign_eligibility, api::participants::randomize, api::participants::unblind,
        api::participants::list_criteria, api::participants::add_criterion, api::participants::set_pattern,
        api::participants::screening_log, api::participants::log_prescreen, api::participants::funnel, api::participants::enrollment,
        api::participants::get_scheme, api::participants::create_scheme, api::participants::set_unblinded,
        api::scheduling::list, api::scheduling::record,
        api::consent::list_documents, api::consent::add_document, api::consent::document_pdf, api::consent::retire_document,
        api::consent::list_events, api::consent::record, api::consent::open_kiosk, api::consent::countersign, api::consent::snapshot,
        api::edc::metadata, api::edc::dictionary_csv, api::edc::put_dictionary, api::edc::put_design, api::edc::publish, api::edc::discard,
        api::edc_entry::grid, api::edc_entry::get_form, api::edc_entry::put_form, api::edc_entry::history,
        api::edc_entry::open_query, api::edc_entry::query_step, api::edc_entry::study_queries,
        api::edc_review::review_state, api::edc_review::verify, api::edc_review::lock, api::edc_review::sign,
        api::edc_transfer::export, api::edc_transfer::import,
        api::calendar::list_resources, api::calendar::create_resource, api::calendar::update_resource,
        api::calendar::calendar, api::calendar::reschedule, api::calendar::book, api::calendar::unbook,
        api::calendar::list_feeds, api::calendar::regenerate_feed, api::calendar::revoke_feed,
        api::medical::dashboard,
        api::medical::list_institutions, api::medical::create_institution, api::medical::get_institution, api::medical::update_institution,
        api::medical::list_hcps, api::medical::create_hcp, api::medical::get_hcp, api::medical::update_hcp, api::medical::set_kol,
        api::medical::set_affiliations, api::medical::add_publications, api::medical::import_publications, api::medical::remove_publication,
        api::medical::set_plan, api::medical::update_objective, api::medical::link_user, api::medical::specialties,
        api::medical::list_interactions, api::medical::log_interaction, api::medical::get_interaction, api::medical::update_interaction,
        api::medical::add_follow_up, api::medical::complete_follow_up,
        api::medical::list_insights, api::medical::record_insight, api::medical::get_insight, api::medical::insight_board, api::medical::insight_cell,
        api::medical::list_requests, api::medical::create_request, api::medical::get_request, api::medical::edit_request,
        api::medical::sign_request, api::medical::respond, api::medical::move_request,
        api::medical::list_events, api::medical::create_event, api::medical::get_event, api::medical::update_event,
        api::medical::add_session, api::medical::remove_session,
        api::medical::list_safety, api::medical::report_safety, api::medical::get_safety, api::medical::update_safety,
        api::medical::forward_safety, api::medical::get_safety_clock, api::medical::set_safety_clock,
        api::device::list_products, api::device::create_product, api::device::get_product,
        api::device::update_product, api::device::list_installs, api::device::create_install,
        api::device::set_install_status, api::device::list_credentials, api::device::create_credential,
        api::device::update_credential, api::device::set_document, api::device::list_cases,
        api::device::request_case, api::device::get_case, api::device::assign_case, api::device::reschedule_case,
        api::device::set_case_status, api::device::list_specialists, api::device::get_territory,
        api::device::set_territory, api::device::plan_visit, api::device::complete_visit, api::device::week,
        api::device::dashboard, api::device::get_travel_buffer, api::device::set_travel_buffer,
        api::device_support::list_tickets, api::device_support::open_ticket, api::device_support::get_ticket,
        api::device_support::log_ticket, api::device_support::set_ticket_status, api::device_support::escalate,
        api::device_support::list_complaints, api::device_support::get_complaint,
        api::device_support::record_handling, api::device_support::decide_reportability,
        api::device_support::mark_reported, api::device_support::close_complaint,
        api::device_support::list_trainings, api::device_support::record_training,
        api::device_support::get_training, api::device_support::add_attendee, api::device_support::sign,
        api::device_support::coverage, api::device_support::list_feedback, api::device_support::submit_feedback,
        api::device_support::vote, api::device_support::set_feedback_status, api::device_support::board,
        api::device_support::list_courses, api::device_support::create_course, api::device_support::get_course,
        api::device_support::enroll, api::device_support::complete_module,
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldErrorOut)),
    modifiers(&Conventions),
    tags((name = "identity"), (name = "audit"), (name = "tasks"), (name = "trials"), (name = "participants"), (name = "consent"), (name = "edc"), (name = "scheduling"), (name = "medical"), (name = "device"))
)]
pub struct ApiDoc;

/// What holds for every operation: it may answer any other status with the error body, and it
/// accepts a bearer token or the session cookie.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = ResponseBuilder::new()
            .description("Error: {\"error\": {\"code\", \"message\", \"fields\"?}} with a stable code")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                op.responses.responses.entry("default".to_string()).or_insert_with(|| RefOr::T(error.clone()));
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("cb_session"))));
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
