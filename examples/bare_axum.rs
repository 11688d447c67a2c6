//! The baseline server for `scripts/bench/http_load.sh`: axum on the same multi-threaded tokio
//! runtime `haechi serve` uses, answering every request with a constant JSON body shaped like
//! an introspection answer. Whatever Haechi's introspection costs beyond this is Haechi's.
//!
//! `cargo run --release --example bare_axum -- PORT` listens on 127.0.0.1:PORT (0 picks a
//! free port) and prints `bare_axum listening on http://ADDR`.

use anyhow::Context as _;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;

const BODY: &str = r#"{"active":true,"sub":"customer:c00000000000000000000000000000000","sid":"00000000000000000000000000000000","jti":"00000000000000000000000000000000","kid":"bench","exp":4102444800,"token_type":"access_token"}"#;

async fn constant() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .context("usage: bare_axum PORT")?
        .parse()
        .context("PORT must be a number")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("bare_axum listening on http://{}", listener.local_addr()?);
        let app = Router::new().fallback(constant);
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}
