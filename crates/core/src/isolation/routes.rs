//! Host-wide routes: Tailscale Serve and Funnel claim the device's HTTPS
//! route, one claim a port for the whole host.
//!
//! What openclaw 2026.9.6 claims (docs/gateway/tailscale.md, and its dist):
//! `serve` and `funnel` each hold a foreground claim made with
//! `tailscale serve|funnel --yes --bg=false <listener>` (dist
//! `tailscale-*.mjs`, `claimTailscaleRoute`, called from
//! `server-tailscale-*.mjs` without `--https`), so Tailscale's default HTTPS
//! port 443; a second claim of that port fails at startup with "Tailscale
//! HTTPS port 443 is already owned". The gateway has no key for another
//! port (`gateway.tailscale` has only `mode` and the deprecated
//! `preserveFunnel`, dist `schema-*.mjs`); Funnel itself would allow only
//! 443, 8443 and 10000. `off` (the default) claims nothing.

use super::{Movers, Problem, Resource, file_name, show};
use crate::openclaw::{Effective, TailscaleMode};

/// The HTTPS port every managed Serve/Funnel route of a gateway claims.
pub const GATEWAY_HTTPS_PORT: u16 = 443;

/// The conflict of `a` and `b` when both claim the device's HTTPS route.
pub(super) fn route_problem(a: &Effective, b: &Effective, movers: &Movers) -> Option<Problem> {
    if a.tailscale.mode == TailscaleMode::Off || b.tailscale.mode == TailscaleMode::Off {
        return None;
    }
    let (moving, staying) = movers.pick(a, b, (b, a));
    let fix = if moving.tailscale.source == "gateway.tailscale.mode" {
        format!(
            "set `gateway.tailscale.mode: \"off\"` in {}'s OpenClaw config {}",
            moving.name,
            show(&moving.config_path)
        )
    } else {
        format!(
            "remove `--tailscale {}` from `args:` in {}",
            moving.tailscale.mode.as_str(),
            file_name(moving)
        )
    };
    Some(Problem {
        resource: Resource::TailscaleRoute,
        instances: vec![a.name.clone(), b.name.clone()],
        shared: format!("tailscale https:{GATEWAY_HTTPS_PORT}"),
        message: format!(
            "tailscale route: {} (tailscale {}) and {} (tailscale {}) both claim this host's Tailscale HTTPS port {GATEWAY_HTTPS_PORT}: the second to start reports the port occupied",
            a.name,
            a.tailscale.mode.as_str(),
            b.name,
            b.tailscale.mode.as_str()
        ),
        fix: format!(
            "{fix}, so that only {} claims it (a gateway's Serve/Funnel route always takes HTTPS {GATEWAY_HTTPS_PORT}: openclaw has no key for another port)",
            staying.name
        ),
    })
}
