//! The managed Tailscale exposure of a gateway (`gateway.tailscale.mode`,
//! `--tailscale` in the declaration's args), as openclaw 2026.9.6 decides it.

use serde::Serialize;

/// The managed Tailscale exposure of a gateway (docs/gateway/tailscale.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tailscale {
    pub mode: TailscaleMode,
    /// Where the mode came from: `gateway.tailscale.mode`, `--tailscale`
    /// in the declaration's args, or `default`.
    pub source: String,
}

/// `gateway.tailscale.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TailscaleMode {
    #[default]
    Off,
    Serve,
    Funnel,
}

impl TailscaleMode {
    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(TailscaleMode::Off),
            "serve" => Some(TailscaleMode::Serve),
            "funnel" => Some(TailscaleMode::Funnel),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TailscaleMode::Off => "off",
            TailscaleMode::Serve => "serve",
            TailscaleMode::Funnel => "funnel",
        }
    }
}

/// The value of option `name` in `args` (`name V` or `name=V`), the last
/// one winning as with the gateway's option parser.
pub(super) fn arg_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().enumerate().rev().find_map(|(index, arg)| {
        if arg == name {
            Some(args.get(index + 1).map_or("", String::as_str))
        } else {
            arg.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
        }
    })
}

/// The Tailscale mode: `--tailscale M` in the declaration's args overrides
/// `gateway.tailscale.mode`, which defaults to `off` (dist `run-*.mjs`:
/// `tailscaleMode ?? cfg.gateway?.tailscale?.mode ?? "off"`). `Err` holds
/// a mode given in the args that is none.
pub(super) fn of(args: &[String], config: Option<&str>) -> Result<Tailscale, String> {
    let (text, source) = match (arg_value(args, "--tailscale"), config) {
        (Some(text), _) => (text, "--tailscale in args"),
        (None, Some(text)) => (text, "gateway.tailscale.mode"),
        (None, None) => ("off", "default"),
    };
    Ok(Tailscale {
        mode: TailscaleMode::parse(text).ok_or_else(|| text.to_string())?,
        source: source.to_string(),
    })
}
