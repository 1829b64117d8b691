//! lambdad's end-to-end tests: ONE test binary (faster linking) that drives
//! the real `lambdad` binary through real clients.

mod architecture;
mod clients;
mod common;
mod config;
mod errors;
mod functions;
mod invoke;
mod isolation;
mod messaging;
mod network;
mod robustness;
mod s3;
mod urls;
