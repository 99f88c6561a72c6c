//! A request whose handler panics is answered `500 INTERNAL` in the error envelope, with its
//! request id, counted in the metrics and the `api_errors` burst like any other 5xx (the
//! middlewares around this one see an ordinary response), instead of the connection being
//! dropped with no answer at all. The panic's message goes to the log only: it may name
//! internals a client has no business seeing.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use futures::FutureExt;

use crate::error::{ApiError, Error};

pub async fn middleware(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The request itself cannot be kept (actix needs it unshared to route it), so a
    // stand-in carries what the layers around this one read: method, path, app state.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let state = req.app_data::<actix_web::web::Data<crate::AppState>>().cloned();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => Ok(res?.map_into_boxed_body()),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            metrics::counter!("berth_api_handler_panics_total").increment(1);
            let mut stand_in = actix_web::test::TestRequest::default().method(method).uri(&uri.to_string());
            if let Some(state) = state {
                stand_in = stand_in.app_data(state);
            }
            // Logged (once) where the response is made, like any internal error.
            let cause = anyhow::anyhow!("a request handler panicked: {message}");
            let res = actix_web::ResponseError::error_response(&ApiError(Error::internal(cause)));
            Ok(ServiceResponse::new(stand_in.to_http_request(), res))
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpResponse};

    #[actix_web::test]
    async fn a_panicking_handler_gets_a_500_in_the_envelope_and_the_server_goes_on() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(super::middleware))
                .wrap(actix_web::middleware::from_fn(crate::request_id::middleware))
                .route("/boom", web::get().to(|| async { panic!("a bug") as HttpResponse }))
                .route("/fine", web::get().to(|| async { HttpResponse::Ok().finish() })),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        assert_eq!(res.status(), 500);
        let id = res.headers().get("x-request-id").expect("a request id").to_str().expect("text").to_owned();
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "INTERNAL", "{body}");
        assert_eq!(body["error"]["request_id"], id.as_str(), "{body}");
        assert!(!body.to_string().contains("a bug"), "the panic's text stays in the log: {body}");
        let res = test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(res.status(), 200);
    }
}
