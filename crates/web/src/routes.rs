//! The route table. Routes are registered through [`Routes`] so the full list of
//! (method, path) pairs is known: the authorization matrix test fails when a route exists that
//! it does not list.

use crate::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
}

#[derive(Default)]
pub struct Routes {
    map: BTreeMap<&'static str, MethodRouter<AppState>>,
    specs: Vec<RouteSpec>,
}

macro_rules! method {
    ($name:ident, $filter:expr, $label:literal) => {
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add($label, $filter, path, handler)
        }
    };
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    fn add<H, T>(mut self, label: &'static str, filter: MethodFilter, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let mr = self.map.remove(path).unwrap_or_default();
        self.map.insert(path, mr.on(filter, handler));
        self.specs.push(RouteSpec { method: label, path });
        self
    }

    method!(get, MethodFilter::GET, "GET");
    method!(post, MethodFilter::POST, "POST");
    method!(put, MethodFilter::PUT, "PUT");
    method!(delete, MethodFilter::DELETE, "DELETE");

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteSpec>) {
        let mut router = Router::new();
        for (path, mr) in self.map {
            router = router.route(path, mr);
        }
        (router, self.specs)
    }
}

/// Every route of the application, context by context.
pub fn all() -> Routes {
    let r = Routes::new();
    let r = crate::assets::register(r);
    let r = crate::api::register(r);
    let r = crate::redcap::register(r);
    crate::pages::register(r)
}

/// The (method, path) pairs served.
pub fn table() -> Vec<RouteSpec> {
    let (_, mut specs) = all().into_parts();
    specs.sort();
    specs
}
