//! The OpenAPI document, generated from the handlers' annotations. A route joins it by
//! being listed here; `every_route_is_documented` in the tests keeps the two in step.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth API",
        description = "Managed PostgreSQL control plane. Any text field or filter holding a NUL or other control \
                       character is 400 INVALID_REQUEST. Caps (configurable): live API keys per account, manual \
                       backups per database per UTC day, database users per database (per plan, in /me's quotas): \
                       403 QUOTA_EXCEEDED; anonymous sign-ups per client address per hour: 429 RATE_LIMITED with \
                       retry-after."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::databases::create,
        routes::databases::list,
        routes::databases::get,
        routes::databases::remove,
        routes::collaborators::list,
        routes::collaborators::add,
        routes::collaborators::change,
        routes::collaborators::remove,
        routes::api_keys::create,
        routes::api_keys::list,
        routes::api_keys::replace,
        routes::api_keys::revoke,
        routes::auth::session,
        routes::auth::anonymous,
        routes::auth::refresh,
        routes::auth::claim,
        routes::auth::logout,
        crate::cookie::sign_in,
        crate::cookie::methods,
        routes::me::me,
        routes::me::set_plan,
        routes::lifecycle::stop,
        routes::lifecycle::start,
        routes::lifecycle::restart,
        routes::lifecycle::reset_password,
        routes::lifecycle::credentials,
        routes::allowlist::list,
        routes::allowlist::add,
        routes::allowlist::remove,
        routes::users::list,
        routes::users::create,
        routes::users::remove,
        routes::backups::create,
        routes::backups::list,
        routes::backups::get,
        routes::backups::download,
        routes::backups::remove,
        routes::backups::verify,
        routes::backups::restore,
        routes::backups::branch,
        routes::operations::get,
        routes::activity::account,
        routes::activity::for_database,
        routes::incidents::list,
        routes::incidents::resolve,
        routes::inspect::metrics,
        routes::inspect::schema,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
