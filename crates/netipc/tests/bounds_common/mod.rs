//! Helpers of the bounded-call and abort tests: a handler gate that holds
//! calls inside the provider until it is opened, and provider setups.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, ManagedServer, ServerConfig};

#[path = "../service_common/mod.rs"]
mod service_common;
pub use service_common::*;

/// Generous bound for "returned promptly" where the exact latency is not
/// the point (slice-driven waits on a loaded machine).
pub const PROMPT: Duration = Duration::from_secs(2);

/// Holds every handler call that `holds` selects until [`Gate::open`];
/// counts the calls that entered.
#[derive(Default)]
pub struct Gate {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Called by the handler: counts the call and, if `hold`, waits until
    /// the gate is open.
    pub fn pass(&self, hold: bool) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        self.cv.notify_all();
        while hold && !st.1 {
            st = self.cv.wait(st).unwrap();
        }
    }

    /// Calls that entered the handler so far.
    pub fn entered(&self) -> usize {
        self.state.lock().unwrap().0
    }

    /// Waits (up to 60 s) until `n` calls entered.
    pub fn wait_entered(&self, n: usize) {
        let st = self.state.lock().unwrap();
        let (st, timeout) = self
            .cv
            .wait_timeout_while(st, Duration::from_secs(60), |st| st.0 < n)
            .unwrap();
        assert!(!timeout.timed_out(), "only {} calls entered", st.0);
    }

    /// Lets every held call (and every later one) through.
    pub fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

/// The two data planes the tests run on.
#[derive(Debug, Clone, Copy)]
pub enum Plane {
    Uds,
    Shm,
}

pub const PLANES: [Plane; 2] = [Plane::Uds, Plane::Shm];

impl Plane {
    pub fn server(self) -> ServerConfig {
        match self {
            Plane::Uds => ServerConfig::new(TOKEN).uds_only(),
            Plane::Shm => ServerConfig::new(TOKEN),
        }
    }

    pub fn client(self) -> ClientConfig {
        match self {
            Plane::Uds => ClientConfig::new(TOKEN).uds_only(),
            Plane::Shm => ClientConfig::new(TOKEN),
        }
    }
}

/// An INCREMENT provider whose handler holds the values `hold` selects at
/// `gate`.
pub fn gated_provider(
    dir: &Path,
    plane: Plane,
    gate: &Arc<Gate>,
    hold: fn(u64) -> bool,
) -> ManagedServer {
    let gate = gate.clone();
    ManagedServer::start(
        ep(dir, "increment"),
        plane.server(),
        increment::handler(move |v| {
            gate.pass(hold(v));
            Ok(v + 1)
        }),
    )
    .expect("start provider")
}

/// A client of the gated provider, refreshed to Ready.
pub fn ready_client(dir: &Path, config: ClientConfig) -> IncrementClient {
    let mut client = IncrementClient::new(ep(dir, "increment"), config);
    client.refresh();
    assert!(client.ready(), "{:?}", client.status());
    client
}
