//! Port footprints: each instance owns `base ..= base + 110` plus every
//! explicit CDP port of its config; no two footprints may meet, and every
//! port must lie in 1024..=65535.

use std::ops::RangeInclusive;

use super::{Movers, Problem, Resource, file_name, show};
use crate::openclaw::{DEFAULT_PORT, Effective, FALLBACK_CDP_RANGE, PORT_BLOCK_SPAN, PortSource};

const MIN_PORT: u32 = 1024;
const MAX_PORT: u32 = 65535;
/// Suggested ports step by 1000 from a neighbour: the guide's 18789/19789
/// pattern, comfortably more than a block.
const SUGGESTION_STEP: u32 = 1000;
/// Why a block is 111 ports, said once so every message says it the same way.
const BLOCK_WHY: &str = "a gateway owns the 111 ports base..base+110 (browser control +2, CDP +3, relay +10, browser profiles' CDP +11..+110)";

/// Part of a footprint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// The derived block (cut at 65535).
    Block,
    /// The shared CDP range a block past 65535 falls back to.
    FallbackCdp,
    /// A port set in the config, by its key.
    Explicit(String),
}

#[derive(Debug, Clone)]
struct Segment {
    range: RangeInclusive<u32>,
    part: Part,
}

fn footprint(instance: &Effective) -> Vec<Segment> {
    let block = instance.port_block();
    let mut segments = Vec::new();
    if *block.end() > MAX_PORT {
        segments.push(Segment {
            range: *block.start()..=MAX_PORT,
            part: Part::Block,
        });
        segments.push(Segment {
            range: FALLBACK_CDP_RANGE,
            part: Part::FallbackCdp,
        });
    } else {
        segments.push(Segment {
            range: block,
            part: Part::Block,
        });
    }
    for explicit in &instance.explicit_ports {
        let port = u32::from(explicit.port);
        segments.push(Segment {
            range: port..=port,
            part: Part::Explicit(explicit.key.clone()),
        });
    }
    segments
}

/// Every port range the instances own (blocks, the fallback CDP range a
/// block past 65535 uses, explicit CDP ports): what a new instance's block
/// must not meet.
pub fn taken_ranges(instances: &[Effective]) -> Vec<(String, RangeInclusive<u32>)> {
    instances
        .iter()
        .flat_map(|instance| {
            footprint(instance)
                .into_iter()
                .map(|segment| (instance.name.clone(), segment.range))
        })
        .collect()
}

fn intersect(a: &RangeInclusive<u32>, b: &RangeInclusive<u32>) -> Option<RangeInclusive<u32>> {
    let start = *a.start().max(b.start());
    let end = *a.end().min(b.end());
    (start <= end).then_some(start..=end)
}

fn range_text(range: &RangeInclusive<u32>) -> String {
    if range.start() == range.end() {
        range.start().to_string()
    } else {
        format!("{}..{}", range.start(), range.end())
    }
}

fn block_text(instance: &Effective) -> String {
    range_text(&instance.port_block())
}

/// The first base port from `starts` whose block fits in 1024..=65535 and
/// meets neither the footprint of any instance not in `moving` nor `reserved`.
fn free_base(
    all: &[Effective],
    moving: &[&str],
    reserved: &[RangeInclusive<u32>],
    start: u32,
) -> Option<u32> {
    let taken: Vec<RangeInclusive<u32>> = all
        .iter()
        .filter(|instance| !moving.contains(&instance.name.as_str()))
        .flat_map(footprint)
        .map(|segment| segment.range)
        .chain(reserved.iter().cloned())
        .collect();
    let fits = |base: u32| {
        let block = base..=base + PORT_BLOCK_SPAN;
        base >= MIN_PORT
            && *block.end() <= MAX_PORT
            && taken.iter().all(|range| intersect(range, &block).is_none())
    };
    let upward = (0..).map(|step| start + step * SUGGESTION_STEP);
    let downward = (1..).map(|step| start.saturating_sub(step * SUGGESTION_STEP));
    upward
        .take_while(|base| base + PORT_BLOCK_SPAN <= MAX_PORT)
        .chain(downward.take_while(|base| *base >= MIN_PORT))
        .chain((MIN_PORT..=MAX_PORT - PORT_BLOCK_SPAN).step_by(PORT_BLOCK_SPAN as usize + 1))
        .find(|base| fits(*base))
}

fn suggestion(base: Option<u32>) -> String {
    base.map_or_else(|| "a free port".to_string(), |base| base.to_string())
}

/// How strongly the operator chose the port: the weaker one is moved.
fn strength(source: PortSource) -> u8 {
    match source {
        PortSource::Declaration => 4,
        PortSource::Environment => 3,
        PortSource::Config => 2,
        PortSource::ProfileHash => 1,
        PortSource::BuiltIn => 0,
    }
}

/// Where `moving` would go to clear `staying`: the first free base from
/// 1000 above `staying`'s port.
fn move_to(all: &[Effective], moving: &Effective, staying: &Effective) -> Option<u32> {
    free_base(
        all,
        &[moving.name.as_str()],
        &[],
        u32::from(staying.port) + SUGGESTION_STEP,
    )
}

/// (the one to move, the one to keep): the smaller move (its suggested base
/// nearest its current port), then the weaker port source, then the rescue,
/// then the later name.
fn mover<'a>(
    a: &'a Effective,
    b: &'a Effective,
    all: &[Effective],
) -> (&'a Effective, &'a Effective) {
    use crate::declaration::Role;
    let key = |moving: &Effective, staying: &Effective| {
        (
            std::cmp::Reverse(
                move_to(all, moving, staying)
                    .map_or(u32::MAX, |base| base.abs_diff(u32::from(moving.port))),
            ),
            std::cmp::Reverse(strength(moving.port_source)),
            moving.declaration.role == Role::Rescue,
        )
    };
    if key(a, b) > key(b, a) {
        (a, b)
    } else {
        (b, a)
    }
}

/// Ports outside 1024..=65535, and a block that runs past 65535.
pub(super) fn range_problems(instance: &Effective, all: &[Effective]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let name = &instance.name;
    let move_fix = |why: &str| {
        let base = free_base(all, &[name], &[], u32::from(DEFAULT_PORT));
        format!(
            "move {name} to {} (`port: {}` in {}): {why}",
            suggestion(base),
            suggestion(base),
            file_name(instance)
        )
    };
    let base = u32::from(instance.port);
    if base == 0 {
        problems.push(Problem {
            resource: Resource::PortRange,
            instances: vec![name.clone()],
            shared: base.to_string(),
            message: format!(
                "ports: {name}'s gateway port is 0 ({}): {}, so neither the supervisor's probes nor clients could find the gateway",
                instance.port_source.describe(),
                crate::declaration::PORT_ZERO_MEANS
            ),
            fix: move_fix("a supervised gateway needs a fixed port"),
        });
    } else if base < MIN_PORT {
        problems.push(Problem {
            resource: Resource::PortRange,
            instances: vec![name.clone()],
            shared: base.to_string(),
            message: format!(
                "ports: {name}'s gateway port {base} ({}) is below 1024: a privileged port",
                instance.port_source.describe()
            ),
            fix: move_fix("ports must lie in 1024..65535"),
        });
    }
    let block = instance.port_block();
    if *block.end() > MAX_PORT {
        problems.push(Problem {
            resource: Resource::PortRange,
            instances: vec![name.clone()],
            shared: range_text(&block),
            message: format!(
                "ports: {name}'s port block {} runs past 65535, so openclaw moves its browsers' CDP ports to the shared range {}",
                range_text(&block),
                range_text(&FALLBACK_CDP_RANGE)
            ),
            fix: move_fix("the whole block base..base+110 must end at 65535 or below"),
        });
    }
    for explicit in &instance.explicit_ports {
        if explicit.port == 0 {
            problems.push(Problem {
                resource: Resource::PortRange,
                instances: vec![name.clone()],
                shared: explicit.port.to_string(),
                message: format!(
                    "ports: {name}'s `{}` port is 0: {}, so nothing could find it",
                    explicit.key,
                    crate::declaration::PORT_ZERO_MEANS
                ),
                fix: format!(
                    "give `{}` in {} a fixed port inside {name}'s own block {}, or remove it (the default CDP port is base+3)",
                    explicit.key,
                    show(&instance.config_path),
                    block_text(instance)
                ),
            });
        } else if u32::from(explicit.port) < MIN_PORT {
            problems.push(Problem {
                resource: Resource::PortRange,
                instances: vec![name.clone()],
                shared: explicit.port.to_string(),
                message: format!(
                    "ports: {name}'s `{}` port {} is below 1024: a privileged port",
                    explicit.key, explicit.port
                ),
                fix: format!(
                    "change `{}` in {} to a port inside {name}'s own block {}, or remove it (the default CDP port is base+3)",
                    explicit.key,
                    show(&instance.config_path),
                    block_text(instance)
                ),
            });
        }
    }
    problems
}

/// Where the footprints of `a` and `b` meet.
pub(super) fn overlap_problems(
    a: &Effective,
    b: &Effective,
    all: &[Effective],
    movers: &Movers,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let pair = vec![a.name.clone(), b.name.clone()];
    let (footprint_a, footprint_b) = (footprint(a), footprint(b));

    // The blocks (and fallback ranges) first: one problem for the pair.
    let block_overlap = footprint_a
        .iter()
        .filter(|segment| !matches!(segment.part, Part::Explicit(_)))
        .flat_map(|sa| {
            footprint_b
                .iter()
                .filter(|segment| !matches!(segment.part, Part::Explicit(_)))
                .filter_map(move |sb| intersect(&sa.range, &sb.range).map(|range| (sa, sb, range)))
        })
        .max_by_key(|(_, _, range)| range.end() - range.start());
    if let Some((sa, sb, overlap)) = block_overlap {
        problems.push(block_problem(
            a, b, &sa.part, &sb.part, &overlap, all, movers,
        ));
    }

    // Each explicit port that lands in the other's footprint.
    for (owner, other, own, theirs) in [
        (a, b, &footprint_a, &footprint_b),
        (b, a, &footprint_b, &footprint_a),
    ] {
        for segment in own {
            let Part::Explicit(key) = &segment.part else {
                continue;
            };
            for target in theirs {
                // Explicit against explicit is reported once, from `a`'s side.
                if matches!(target.part, Part::Explicit(_)) && std::ptr::eq(owner, b) {
                    continue;
                }
                if intersect(&segment.range, &target.range).is_none() {
                    continue;
                }
                let port = segment.range.start();
                let where_ = match &target.part {
                    Part::Block => format!("{}'s port block {}", other.name, block_text(other)),
                    Part::FallbackCdp => format!(
                        "the shared CDP range {} that {}'s block falls back to",
                        range_text(&FALLBACK_CDP_RANGE),
                        other.name
                    ),
                    Part::Explicit(other_key) => format!("{}'s `{other_key}` port", other.name),
                };
                let fix = match movers.forced(owner, other) {
                    Some((moving, staying)) if moving.name == other.name => {
                        let base = move_to(all, moving, staying);
                        format!(
                            "move {} to {} (`port: {}` in {}): its ports must stay clear of {}'s `{key}` port {port}",
                            moving.name,
                            suggestion(base),
                            suggestion(base),
                            file_name(moving),
                            owner.name
                        )
                    }
                    _ => format!(
                        "change `{key}` in {} to a port inside {}'s own block {}",
                        show(&owner.config_path),
                        owner.name,
                        block_text(owner)
                    ),
                };
                problems.push(Problem {
                    resource: Resource::Ports,
                    instances: pair.clone(),
                    shared: port.to_string(),
                    message: format!("ports: {}'s `{key}` port {port} is in {where_}", owner.name),
                    fix,
                });
            }
        }
    }
    problems
}

fn block_problem(
    a: &Effective,
    b: &Effective,
    part_a: &Part,
    part_b: &Part,
    overlap: &RangeInclusive<u32>,
    all: &[Effective],
    movers: &Movers,
) -> Problem {
    let (port_a, port_b) = (u32::from(a.port), u32::from(b.port));
    let distance = port_a.abs_diff(port_b);
    let both_hashed =
        a.port_source == PortSource::ProfileHash && b.port_source == PortSource::ProfileHash;
    let spacing_is_the_cause = (20..=PORT_BLOCK_SPAN).contains(&distance);
    let fallback = [(a, part_a, b, part_b), (b, part_b, a, part_a)]
        .into_iter()
        .find(|(_, part, _, _)| **part == Part::FallbackCdp);
    let message = if let Some((falling, _, other, other_part)) = fallback {
        let other_range = if *other_part == Part::FallbackCdp {
            format!("the same fallback range of {}", other.name)
        } else {
            format!("{}'s block {}", other.name, block_text(other))
        };
        format!(
            "ports: {}'s block {} runs past 65535, so its CDP ports fall back to the shared {}, which meets {other_range} at {}",
            falling.name,
            block_text(falling),
            range_text(&FALLBACK_CDP_RANGE),
            range_text(overlap)
        )
    } else if port_a == port_b {
        format!(
            "ports: {} and {} both use gateway port {port_a} ({}: {}, {}: {})",
            a.name,
            b.name,
            a.name,
            a.port_source.describe(),
            b.name,
            b.port_source.describe()
        )
    } else if both_hashed {
        format!(
            "ports: {} and {} set no port, so openclaw derives one from each profile name (20000 + fnv1a32(profile) % 40000): {} {port_a} and {} {port_b}, only {distance} apart; their blocks {} and {} overlap at {}",
            a.name,
            b.name,
            a.name,
            b.name,
            block_text(a),
            block_text(b),
            range_text(overlap)
        )
    } else {
        let mut message = format!(
            "ports: {}'s block {} and {}'s block {} overlap at {}: {BLOCK_WHY}",
            a.name,
            block_text(a),
            b.name,
            block_text(b),
            range_text(overlap)
        );
        if spacing_is_the_cause {
            message.push_str(&format!(
                "; {port_a} and {port_b} are only {distance} apart, as the guide's 20-port spacing allows"
            ));
        } else {
            message.push_str(&format!(
                "; {port_a} and {port_b} are only {distance} apart"
            ));
        }
        for instance in [a, b] {
            match instance.port_source {
                PortSource::ProfileHash => message.push_str(&format!(
                    " ({} sets no port: {} is openclaw's hashed default for profile `{}`)",
                    instance.name,
                    instance.port,
                    instance.profile.as_deref().unwrap_or_default()
                )),
                PortSource::Environment => message.push_str(&format!(
                    " ({}'s port comes from the inherited OPENCLAW_GATEWAY_PORT)",
                    instance.name
                )),
                _ => {}
            }
        }
        message
    };

    let forced = movers.forced(a, b);
    // Neither port was chosen: both declarations should say one, unless the
    // ranks say which of the two is to move.
    let neither_chosen = both_hashed
        || (port_a == port_b
            && a.port_source == PortSource::Environment
            && b.port_source == PortSource::Environment);
    let fix = if forced.is_none() && neither_chosen {
        let (first, second) = if b.declaration.role == crate::declaration::Role::Main
            && a.declaration.role == crate::declaration::Role::Rescue
        {
            (b, a)
        } else {
            (a, b)
        };
        let moving = [first.name.as_str(), second.name.as_str()];
        let first_base = free_base(all, &moving, &[], u32::from(DEFAULT_PORT));
        let reserved: Vec<RangeInclusive<u32>> = first_base
            .map(|base| base..=base + PORT_BLOCK_SPAN)
            .into_iter()
            .collect();
        let second_base = free_base(
            all,
            &moving,
            &reserved,
            first_base.map_or(u32::from(DEFAULT_PORT), |base| base + SUGGESTION_STEP),
        );
        format!(
            "set `port:` in both declarations, e.g. `port: {}` in {} and `port: {}` in {}: base ports at least 111 apart",
            suggestion(first_base),
            file_name(first),
            suggestion(second_base),
            file_name(second)
        )
    } else {
        let (moving, staying) = match (forced, fallback) {
            (Some(forced), _) => forced,
            (None, Some((falling, _, other, _))) => (falling, other),
            (None, None) => mover(a, b, all),
        };
        let base = move_to(all, moving, staying);
        let mut fix = format!(
            "move {} to {} (`port: {}` in {}): a port block needs 111 ports, so base ports must be at least 111 apart",
            moving.name,
            suggestion(base),
            suggestion(base),
            file_name(moving)
        );
        if spacing_is_the_cause && fallback.is_none() {
            fix.push_str("; the guide's 20-port spacing is not enough");
        }
        fix
    };
    Problem {
        resource: Resource::Ports,
        instances: vec![a.name.clone(), b.name.clone()],
        shared: range_text(overlap),
        message,
        fix,
    }
}

/// The warning for an instance whose footprint meets the kernel's ephemeral
/// port range (`net.ipv4.ip_local_port_range`, `ephemeral`): any outgoing
/// connection may take one of those ports as its local port, and the
/// gateway then cannot bind it until that connection and its TIME-WAIT end.
/// The fix moves it below the range, or reserves its block.
pub(super) fn ephemeral_warning(
    instance: &Effective,
    all: &[Effective],
    ephemeral: &RangeInclusive<u32>,
) -> Option<String> {
    let met: Vec<RangeInclusive<u32>> = footprint(instance)
        .iter()
        .filter_map(|segment| intersect(&segment.range, ephemeral))
        .collect();
    if met.is_empty() {
        return None;
    }
    let shown: Vec<String> = met.iter().map(range_text).collect();
    let below = free_base(
        all,
        &[instance.name.as_str()],
        &[*ephemeral.start()..=MAX_PORT],
        u32::from(DEFAULT_PORT),
    );
    let move_it = match below {
        Some(base) => format!(
            "move {name} below {low} (`port: {base}` in {file})",
            name = instance.name,
            low = ephemeral.start(),
            file = file_name(instance),
        ),
        None => format!("move {} below {}", instance.name, ephemeral.start()),
    };
    let reserve = met
        .iter()
        .map(|range| format!("{}-{}", range.start(), range.end()))
        .collect::<Vec<_>>()
        .join(",");
    Some(format!(
        "ports: {name}'s ports {ports} lie in the ephemeral port range {low}..{high} (net.ipv4.ip_local_port_range), where any outgoing connection (the supervisor's own probes included) can take one as its local port; the gateway then cannot bind it until that connection and its TIME-WAIT (up to 60 s) end; fix: {move_it}, or reserve them from outgoing connections: add {reserve} to net.ipv4.ip_local_reserved_ports (`sysctl -w net.ipv4.ip_local_reserved_ports={reserve}` when none are reserved yet, and in /etc/sysctl.d/ to keep it)",
        name = instance.name,
        ports = shown.join(", "),
        low = ephemeral.start(),
        high = ephemeral.end(),
    ))
}
