//! `Json<T>` that behaves as API.md says: the body is JSON whatever the Content-Type
//! (`curl -d` sends form encoding), a body over the cap is refused with 413 before it is
//! read whole, and a bad body names the field at fault.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The body-size cap, set as app data.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_capped(req, payload);
        Box::pin(async move { parse(&read.await?).map(Json) })
    }
}

/// Like [`Json`], but an empty body means `T::default()` (for bodies whose fields are all
/// optional, e.g. `POST …/backups {label?}`).
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonOrEmpty<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_capped(req, payload);
        Box::pin(async move {
            let bytes = read.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(JsonOrEmpty(T::default()));
            }
            parse(&bytes).map(JsonOrEmpty)
        })
    }
}

/// Reads the body, refusing it with 413 as soon as it is known to be over the cap.
fn read_capped(req: &HttpRequest, payload: &mut Payload) -> impl Future<Output = Result<web::BytesMut, ApiError>> {
    let limit = req.app_data::<web::Data<BodyLimit>>().map(|l| l.0).unwrap_or(1 << 20);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::InvalidRequest("could not read the request body".into()))?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidRequest("the request body is empty; a JSON object is expected".into()));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = if inner.is_syntax() || inner.is_eof() {
            format!("the request body is not valid JSON: {inner}")
        } else if path == "." || path.is_empty() {
            format!("invalid request body: {inner}")
        } else {
            format!("invalid field `{path}`: {inner}")
        };
        ApiError::InvalidRequest(msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        name: String,
    }

    fn msg(r: Result<Req, ApiError>) -> String {
        match r {
            Err(ApiError::InvalidRequest(m)) => m,
            other => panic!("expected INVALID_REQUEST, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        assert!(msg(parse(br#"{"name": 5}"#)).contains("`name`"));
        assert!(msg(parse(br#"{"name": "x", "extra": 1}"#)).contains("extra"));
        assert!(msg(parse(br#"{}"#)).contains("name"));
        assert!(msg(parse(b"")).contains("empty"));
        assert!(msg(parse(b"{")).contains("not valid JSON"));
        assert!(msg(parse(b"[]")).contains("invalid"));
    }
}
