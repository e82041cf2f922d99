//! A running app per test: a fresh database (SQLite file or PostgreSQL database), the demo
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! world seeded, the server on port 0, and HTTP clients that keep cookies.
#![allow(dead_code)]

use clinbridge_store::{Settings, Store, demo};
use clinbridge_testkit::TestDb;
use clinbridge_web::{AppState, Config};
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub state: AppState,
    pub world: demo::DemoWorld,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

pub async fn spawn_app(db: &TestDb) -> TestApp {
    spawn_with(db, Settings::default(), Config::default()).await
}

pub async fn spawn_with(db: &TestDb, settings: Settings, config: Config) -> TestApp {
    let store = db.store_with(settings).await;
    let world = demo::seed(&store).await.expect("seed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState { store: store.clone(), config: Arc::new(config) };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = clinbridge_web::app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    TestApp { base: format!("http://{addr}"), store, state, world, shutdown: Some(tx) }
}

impl TestApp {
    /// A browser-like client: keeps cookies, does not follow redirects, sends our Origin.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, self.base.parse().expect("origin"));
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client signed in through the API as the demo user holding `role`.
    pub async fn signed_in(&self, role: &str) -> reqwest::Client {
        let c = self.client();
        let email = format!("{}@demo.clinbridge.org", role.replace('_', "."));
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"email": email, "password": demo::DEMO_PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login as {role}");
        c
    }
}
