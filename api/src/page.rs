//! The pod timeline page: static HTML, CSS and JS compiled into the binary.
//!
//! No build step and no CDN: the page is plain JS that fetches
//! `/api/v1/debugpod` and draws the Gantt chart as SVG, so it works
//! air-gapped and the API binary is the only thing to deploy. Both
//! `/pod?uid=...` and `/pod/{namespace}/{name}` serve the same document; the
//! script reads the location to build its API query.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page document.
pub const POD_HTML: &str = include_str!("../static/pod.html");
/// The page script.
pub const POD_JS: &str = include_str!("../static/pod.js");
/// The page style.
pub const POD_CSS: &str = include_str!("../static/pod.css");
/// The OpenAPI description of the API.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

const NO_CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

/// `GET /pod` and `GET /pod/{namespace}/{name}`.
pub async fn pod_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), NO_CACHE],
        POD_HTML,
    )
        .into_response()
}

/// `GET /pod/{namespace}/{name}` (same document; the script reads the path).
pub async fn pod_page_by_name(Path((_ns, _name)): Path<(String, String)>) -> Response {
    pod_page().await
}

/// `GET /static/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "pod.js" => (POD_JS, "text/javascript; charset=utf-8"),
        "pod.css" => (POD_CSS, "text/css; charset=utf-8"),
        _ => {
            return crate::error::Error::NotFound(format!("no static file {file:?}"))
                .into_response()
        }
    };
    ([(header::CONTENT_TYPE, kind), NO_CACHE], body).into_response()
}

/// `GET /api/v1/openapi.yaml`.
pub async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        OPENAPI_YAML,
    )
        .into_response()
}
