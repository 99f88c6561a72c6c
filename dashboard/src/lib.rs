//! Berth's web dashboard: a small client-side app (plain ES modules and one stylesheet, no
//! build step) embedded in the binary. `index.html` is served at `/` with `no-cache`; the
//! assets under `/ui/<content hash>/…` with a year-long immutable cache, so a new binary's
//! assets never mix with an old one's. The app calls the JSON API at `/api/v1/…` with the
//! session cookie (see `api::cookie`), so every action is the API's own action.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::middleware::Compress;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use sha2::{Digest, Sha256};

/// The embedded files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../assets/app.css")),
    ("app.js", JS, include_bytes!("../assets/app.js")),
    ("api.js", JS, include_bytes!("../assets/api.js")),
    ("ui.js", JS, include_bytes!("../assets/ui.js")),
    ("signin.js", JS, include_bytes!("../assets/signin.js")),
    ("databases.js", JS, include_bytes!("../assets/databases.js")),
    ("database.js", JS, include_bytes!("../assets/database.js")),
    ("dbparts.js", JS, include_bytes!("../assets/dbparts.js")),
    ("sql.js", JS, include_bytes!("../assets/sql.js")),
    ("data_api.js", JS, include_bytes!("../assets/data_api.js")),
    ("keys.js", JS, include_bytes!("../assets/keys.js")),
    ("account.js", JS, include_bytes!("../assets/account.js")),
    ("admin.js", JS, include_bytes!("../assets/admin.js")),
    ("hosts.js", JS, include_bytes!("../assets/hosts.js")),
    ("accounts.js", JS, include_bytes!("../assets/accounts.js")),
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("../assets/index.html");

/// The Content-Security-Policy of every dashboard response: scripts and styles from this
/// origin only (no inline script), no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A hash of every asset: the path segment that versions them.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, bytes) in ASSETS {
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..8])
    })
}

fn index_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| INDEX.replace("{{V}}", version()))
}

fn secured(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    res
}

async fn index() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(index_html())
}

async fn asset(path: web::Path<(String, String)>) -> HttpResponse {
    let (v, file) = path.into_inner();
    let found = ASSETS.iter().find(|(name, _, _)| *name == file);
    match found {
        Some((_, kind, bytes)) if v == version() => secured(HttpResponse::Ok())
            .content_type(*kind)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(*bytes),
        _ => secured(HttpResponse::NotFound())
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("not found"),
    }
}

/// Mounts the dashboard next to the API: `/` and `/ui/{version}/{file}`, compressed for
/// clients that accept it (gzip, brotli, zstd).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").wrap(Compress::default()).route(web::get().to(index)))
        .service(web::scope("/ui").wrap(Compress::default()).route("/{v}/{file}", web::get().to(asset)));
}

/// Bytes a first load transfers uncompressed: the page and every asset.
pub fn first_load_bytes() -> usize {
    index_html().len() + ASSETS.iter().map(|(_, _, b)| b.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_versioned_assets_and_stays_small() {
        assert!(index_html().contains(&format!("/ui/{}/app.js", version())));
        assert!(!index_html().contains("{{V}}"));
        assert!(first_load_bytes() < 200 * 1024, "first load is {} bytes", first_load_bytes());
    }

    #[test]
    fn no_inline_script_in_the_page() {
        let html = index_html();
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        for handler in ["onclick", "onload", "onerror", "onsubmit"] {
            assert!(!html.contains(handler), "no inline event handlers");
        }
    }
}
