//! The OpenAPI 3 document, generated from the handlers' annotations.

use crate::api;
use crate::error::{ErrorBody, ErrorDetail, FieldErrorOut};
use axum::Json;
use utoipa::OpenApi;

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
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldErrorOut)),
    tags((name = "identity"), (name = "audit"), (name = "tasks"))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
