//! The `limits:` keys: `LimitsSpec` and a CPU limit in any spelling (`CpuLimit`).

use super::*;

/// `limits`: cgroup v2 limits on the instance's whole process tree, applied
/// where its cgroup has the controller (see `limits`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSpec {
    /// `memory.max` (the tree is OOM-killed above it), with `memory.high`
    /// (reclaim and throttling) at 90 % of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ByteSizeSchema>")]
    pub memory: Option<bytesize::ByteSize>,
    /// CPUs the tree may use (`cpu.max`): `1`, `1.5`, `"50%"` (half a CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuLimit>,
    /// Processes and threads the tree may have (`pids.max`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

impl LimitsSpec {
    pub fn is_empty(&self) -> bool {
        *self == LimitsSpec::default()
    }
}

/// A CPU limit in thousandths of a CPU (`1.5` CPUs = 1500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CpuLimit(pub u32);

impl CpuLimit {
    /// The thousandths of a CPU, from a number of CPUs (`1.5`) or a
    /// percentage of one (`50%`).
    pub fn parse(text: &str) -> Result<CpuLimit, String> {
        let written = text.trim();
        let (number, scale) = match written.strip_suffix('%') {
            Some(percent) => (percent.trim(), 10.0),
            None => (written, 1000.0),
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is not a number of CPUs: write e.g. `1`, `1.5` or `50%`")
        })?;
        Self::from_cpus(value * scale / 1000.0)
    }

    fn from_cpus(cpus: f64) -> Result<CpuLimit, String> {
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(format!(
                "{cpus} CPUs would stop the gateway: write a number above zero, e.g. `1` or `50%`"
            ));
        }
        if cpus < 0.01 {
            return Err(format!(
                "{cpus} CPUs is below the least cgroups can give (0.01 CPU, 1 ms in each 100 ms)"
            ));
        }
        if cpus > 4096.0 {
            return Err(format!("{cpus} CPUs is more than any host has"));
        }
        Ok(CpuLimit((cpus * 1000.0).round() as u32))
    }
}

impl fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let rest = self.0 % 1000;
        let plural = if self.0 == 1000 { "" } else { "s" };
        if rest == 0 {
            write!(f, "{whole} CPU{plural}")
        } else {
            let fraction = format!("{rest:03}");
            write!(f, "{whole}.{} CPU{plural}", fraction.trim_end_matches('0'))
        }
    }
}

impl<'de> Deserialize<'de> for CpuLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CpuLimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of CPUs (`1`, `1.5`) or a percentage of one (`50%`)")
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<CpuLimit, E> {
                CpuLimit::from_cpus(value as f64).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<CpuLimit, E> {
                CpuLimit::from_cpus(value as f64).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<CpuLimit, E> {
                CpuLimit::from_cpus(value).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<CpuLimit, E> {
                CpuLimit::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for CpuLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(f64::from(self.0) / 1000.0)
    }
}

impl schemars::JsonSchema for CpuLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CpuLimit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "CPUs: a number (`1`, `1.5`) or a percentage of one CPU (`50%`).",
            "oneOf": [
                { "type": "number", "exclusiveMinimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*%?\\s*$" }
            ]
        })
    }
}
