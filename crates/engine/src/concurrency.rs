//! Concurrency limits: the account limit, per-function reservations, and
//! the throttling decision for each invocation (Lambda's rules).
//!
//! A function with a reservation runs at most that many invocations at once
//! and does not use the unreserved pool; every other function shares the
//! unreserved pool (account limit minus all reservations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why an invocation was throttled (AWS's `Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is in use (or is 0).
    Reserved,
    /// The account's unreserved concurrency is in use.
    Account,
}

impl Throttle {
    /// The `Reason` member of TooManyRequestsException.
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    reserved: HashMap<String, u32>,
    /// Keyed by shared names: a slot holds its function's key, so taking
    /// one allocates only for a function's first invocation.
    in_flight: HashMap<Arc<str>, u32>,
    unreserved_in_flight: u32,
}

/// The engine's concurrency accounting.
#[derive(Debug, Clone)]
pub struct Concurrency {
    limit: u32,
    state: Arc<Mutex<State>>,
}

/// Held while an invocation runs; releases its slot when dropped.
#[derive(Debug)]
pub struct Slot {
    state: Arc<Mutex<State>>,
    function: Arc<str>,
    reserved: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.in_flight.get_mut(&*self.function) {
            *n = n.saturating_sub(1);
        }
        if !self.reserved {
            s.unreserved_in_flight = s.unreserved_in_flight.saturating_sub(1);
        }
    }
}

impl Concurrency {
    /// Accounting for an account limit of `limit` concurrent executions.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            state: Arc::default(),
        }
    }

    /// The account limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets or clears a function's reservation.
    pub fn set_reserved(&self, function: &str, reserved: Option<u32>) {
        let mut s = self.lock();
        match reserved {
            Some(n) => s.reserved.insert(function.to_owned(), n),
            None => s.reserved.remove(function),
        };
    }

    /// A function's reservation.
    pub fn reserved(&self, function: &str) -> Option<u32> {
        self.lock().reserved.get(function).copied()
    }

    /// Account limit minus every reservation.
    pub fn unreserved(&self) -> u32 {
        let s = self.lock();
        self.limit.saturating_sub(s.reserved.values().sum())
    }

    /// Sum of reservations other than `function`'s.
    pub fn reserved_by_others(&self, function: &str) -> u32 {
        self.lock()
            .reserved
            .iter()
            .filter(|(f, _)| f.as_str() != function)
            .map(|(_, n)| n)
            .sum()
    }

    /// Invocations running now, per function.
    pub fn in_flight_by_function(&self) -> Vec<(String, u32)> {
        self.lock()
            .in_flight
            .iter()
            .map(|(f, n)| (f.to_string(), *n))
            .collect()
    }

    /// Invocations running now, in all functions.
    pub fn in_flight(&self) -> u32 {
        self.lock().in_flight.values().sum()
    }

    /// Takes a slot for one invocation of `function`, or says why not.
    pub fn acquire(&self, function: &str) -> Result<Slot, Throttle> {
        let mut s = self.lock();
        let running = s.in_flight.get(function).copied().unwrap_or(0);
        let reserved = s.reserved.get(function).copied();
        match reserved {
            Some(r) if running >= r => return Err(Throttle::Reserved),
            Some(_) => {}
            None => {
                let unreserved = self.limit.saturating_sub(s.reserved.values().sum());
                if s.unreserved_in_flight >= unreserved {
                    return Err(Throttle::Account);
                }
                s.unreserved_in_flight += 1;
            }
        }
        let key = match s.in_flight.get_key_value(function) {
            Some((key, _)) => key.clone(),
            None => Arc::from(function),
        };
        *s.in_flight.entry(key.clone()).or_default() += 1;
        Ok(Slot {
            state: self.state.clone(),
            function: key,
            reserved: reserved.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_account_limits() {
        let c = Concurrency::new(3);
        c.set_reserved("r", Some(1));
        let a = c.acquire("r").unwrap();
        assert_eq!(c.acquire("r").unwrap_err(), Throttle::Reserved);
        let b = c.acquire("x").unwrap();
        let d = c.acquire("y").unwrap();
        assert_eq!(
            c.acquire("z").unwrap_err(),
            Throttle::Account,
            "unreserved pool is 3 - 1 = 2"
        );
        drop(b);
        let _e = c.acquire("z").unwrap();
        drop((a, d));
        c.set_reserved("zero", Some(0));
        assert_eq!(c.acquire("zero").unwrap_err(), Throttle::Reserved);
        assert_eq!(c.unreserved(), 2);
    }
}
