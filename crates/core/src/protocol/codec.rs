//! The JSON-lines codec: one object per line, decoded with a size limit, the header (`v`, `id`) read first so an error reply can still name its request, and each problem typed (`DecodeError`).

use super::*;

/// Why a line could not be decoded. `id` is the request id when it could be
/// read, so the error reply can still be matched to its request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{problem}")]
pub struct DecodeError {
    pub id: Option<u64>,
    pub problem: DecodeProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeProblem {
    #[error("line too large: {len} bytes, the limit is {limit}; send smaller requests")]
    TooLarge { len: usize, limit: usize },
    #[error("line is not UTF-8 (invalid byte at offset {offset}); send JSON text")]
    NotUtf8 { offset: usize },
    #[error("malformed JSON: {detail}; send one JSON object per line")]
    MalformedJson { detail: String },
    #[error("expected a JSON object, got {found}")]
    NotAnObject { found: &'static str },
    #[error("missing field `{field}`")]
    MissingField { field: String },
    #[error("field `{field}` is invalid: {detail}")]
    InvalidField { field: String, detail: String },
    #[error("unsupported protocol version {got}; this side speaks version {PROTOCOL_VERSION}")]
    UnsupportedVersion { got: u64 },
    #[error("unknown {what} type `{name}`; known: {known}")]
    UnknownType {
        what: &'static str,
        name: String,
        known: String,
    },
}

impl DecodeError {
    fn new(id: Option<u64>, problem: DecodeProblem) -> Self {
        DecodeError { id, problem }
    }

    /// The wire error kind a reply to this error carries.
    pub fn kind(&self) -> ErrorKind {
        match self.problem {
            DecodeProblem::TooLarge { .. } => ErrorKind::TooLarge,
            DecodeProblem::NotUtf8 { .. } => ErrorKind::NotUtf8,
            DecodeProblem::MalformedJson { .. } | DecodeProblem::NotAnObject { .. } => {
                ErrorKind::MalformedJson
            }
            DecodeProblem::MissingField { .. } => ErrorKind::MissingField,
            DecodeProblem::InvalidField { .. } => ErrorKind::BadRequest,
            DecodeProblem::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            DecodeProblem::UnknownType { .. } => ErrorKind::UnknownRequest,
        }
    }

    /// The error reply line's envelope for this error.
    pub fn to_response(&self) -> ResponseEnvelope {
        ResponseEnvelope::new(self.id, Response::error(self.kind(), self.to_string()))
    }
}

/// Decodes one request line (with or without its trailing newline).
pub fn decode_request(line: &[u8]) -> Result<RequestEnvelope, DecodeError> {
    let object = decode_object(line, MAX_LINE)?;
    let (v, id) = decode_header(&object)?;
    if v != u64::from(PROTOCOL_VERSION) {
        return Err(DecodeError::new(
            id,
            DecodeProblem::UnsupportedVersion { got: v },
        ));
    }
    let id = id.ok_or_else(|| missing(None, "id"))?;
    let body = object
        .get("request")
        .ok_or_else(|| missing(Some(id), "request"))?;
    check_type(Some(id), body, "request", REQUEST_TYPES)?;
    let request = serde_json::from_value::<Request>(body.clone())
        .map_err(|err| field_error(id, "request", &err))?;
    Ok(RequestEnvelope {
        v: PROTOCOL_VERSION,
        id,
        request,
    })
}

/// A `status` reply line, read without buffering (see [`decode_response`]).
#[derive(Deserialize)]
pub(super) struct StatusEnvelope {
    v: u32,
    id: Option<u64>,
    response: StatusBody,
}

/// `Response::Status` with its tag as a field that takes only `status`.
#[derive(Deserialize)]
pub(super) struct StatusBody {
    #[serde(rename = "type")]
    _type: StatusTag,
    instances: Vec<InstanceStatus>,
    #[serde(default)]
    rejected: Vec<RejectedFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StatusTag {
    Status,
}

/// Decodes one reply line, as a client does.
pub fn decode_response(line: &[u8]) -> Result<ResponseEnvelope, DecodeError> {
    // The common case straight into the typed reply, with no `Value` tree
    // in between (a `status` of 500 instances is most of a megabyte). A
    // line it does not take (another version, a malformed or unknown
    // reply) is decoded again below, which says exactly what is wrong.
    if line.len() <= MAX_RESPONSE_LINE && line.trim_ascii_start().first() == Some(&b'{') {
        // A status reply as a plain struct: serde reads an internally
        // tagged enum by buffering the whole body first. Its `type` comes
        // first on the wire, so any other reply is turned away at once.
        if let Ok(status) = serde_json::from_slice::<StatusEnvelope>(line)
            && status.v == PROTOCOL_VERSION
        {
            return Ok(ResponseEnvelope {
                v: status.v,
                id: status.id,
                response: Response::Status {
                    instances: status.response.instances,
                    rejected: status.response.rejected,
                },
            });
        }
        if let Ok(envelope) = serde_json::from_slice::<ResponseEnvelope>(line)
            && envelope.v == PROTOCOL_VERSION
        {
            return Ok(envelope);
        }
    }
    let object = decode_object(line, MAX_RESPONSE_LINE)?;
    let (v, id) = decode_header(&object)?;
    if v != u64::from(PROTOCOL_VERSION) {
        return Err(DecodeError::new(
            id,
            DecodeProblem::UnsupportedVersion { got: v },
        ));
    }
    let body = object
        .get("response")
        .ok_or_else(|| missing(id, "response"))?;
    let response = serde_json::from_value::<Response>(body.clone()).map_err(|err| {
        let detail = err.to_string();
        match unknown_variant(&detail) {
            Some(name) => DecodeError::new(
                id,
                DecodeProblem::UnknownType {
                    what: "response",
                    name,
                    known: String::from("see PROTOCOL.md"),
                },
            ),
            None => field_error_opt(id, "response", &err),
        }
    })?;
    Ok(ResponseEnvelope {
        v: PROTOCOL_VERSION,
        id,
        response,
    })
}

/// Encodes a request as one line, newline included.
pub fn encode_request(envelope: &RequestEnvelope) -> Vec<u8> {
    to_line(envelope)
}

/// Encodes a reply as one line, newline included.
pub fn encode_response(envelope: &ResponseEnvelope) -> Vec<u8> {
    to_line(envelope)
}

pub(super) fn to_line<T: Serialize>(value: &T) -> Vec<u8> {
    // The wire types have string keys only and serde_json writes non-finite
    // floats as null, so serialising them cannot fail.
    let mut line = serde_json::to_vec(value).expect("wire types always serialise to JSON");
    line.push(b'\n');
    line
}

pub(super) type Object = serde_json::Map<String, serde_json::Value>;

pub(super) fn decode_object(line: &[u8], limit: usize) -> Result<Object, DecodeError> {
    if line.len() > limit {
        return Err(DecodeError::new(
            None,
            DecodeProblem::TooLarge {
                len: line.len(),
                limit,
            },
        ));
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|err| {
        DecodeError::new(
            None,
            DecodeProblem::NotUtf8 {
                offset: err.valid_up_to(),
            },
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        DecodeError::new(
            None,
            DecodeProblem::MalformedJson {
                detail: err.to_string(),
            },
        )
    })?;
    match value {
        serde_json::Value::Object(object) => Ok(object),
        other => Err(DecodeError::new(
            None,
            DecodeProblem::NotAnObject {
                found: json_type(&other),
            },
        )),
    }
}

/// Reads `v` (required) and `id` (optional here; requests require it).
pub(super) fn decode_header(object: &Object) -> Result<(u64, Option<u64>), DecodeError> {
    let id = match object.get("id") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            DecodeError::new(
                None,
                DecodeProblem::InvalidField {
                    field: String::from("id"),
                    detail: format!("expected an unsigned integer, got {}", json_type(value)),
                },
            )
        })?),
    };
    let v = object.get("v").ok_or_else(|| missing(id, "v"))?;
    let v = v.as_u64().ok_or_else(|| {
        DecodeError::new(
            id,
            DecodeProblem::InvalidField {
                field: String::from("v"),
                detail: format!("expected an unsigned integer, got {}", json_type(v)),
            },
        )
    })?;
    Ok((v, id))
}

pub(super) fn check_type(
    id: Option<u64>,
    body: &serde_json::Value,
    what: &'static str,
    known: &[&str],
) -> Result<(), DecodeError> {
    let object = body.as_object().ok_or_else(|| {
        DecodeError::new(
            id,
            DecodeProblem::InvalidField {
                field: what.to_string(),
                detail: format!("expected an object, got {}", json_type(body)),
            },
        )
    })?;
    let type_value = object
        .get("type")
        .ok_or_else(|| missing(id, &format!("{what}.type")))?;
    let name = type_value.as_str().ok_or_else(|| {
        DecodeError::new(
            id,
            DecodeProblem::InvalidField {
                field: format!("{what}.type"),
                detail: format!("expected a string, got {}", json_type(type_value)),
            },
        )
    })?;
    if known.contains(&name) {
        return Ok(());
    }
    Err(DecodeError::new(
        id,
        DecodeProblem::UnknownType {
            what,
            name: name.to_string(),
            known: known.join(", "),
        },
    ))
}

pub(super) fn missing(id: Option<u64>, field: &str) -> DecodeError {
    DecodeError::new(
        id,
        DecodeProblem::MissingField {
            field: field.to_string(),
        },
    )
}

pub(super) fn field_error(id: u64, prefix: &str, err: &serde_json::Error) -> DecodeError {
    field_error_opt(Some(id), prefix, err)
}

/// Turns serde's message into a problem naming the field. serde spells a
/// missing field as "missing field `name`" (its `Error::missing_field`).
pub(super) fn field_error_opt(
    id: Option<u64>,
    prefix: &str,
    err: &serde_json::Error,
) -> DecodeError {
    let detail = err.to_string();
    if let Some(field) = between(&detail, "missing field `", "`") {
        return missing(id, &format!("{prefix}.{field}"));
    }
    DecodeError::new(
        id,
        DecodeProblem::InvalidField {
            field: prefix.to_string(),
            detail,
        },
    )
}

pub(super) fn unknown_variant(detail: &str) -> Option<String> {
    between(detail, "unknown variant `", "`")
}

pub(super) fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

pub(super) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
