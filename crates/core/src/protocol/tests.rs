//! Codec tables: every request and response, every malformed kind.

use super::*;

mod malformed;
mod status;

use status::status_fixture;

#[test]
fn every_request_decodes_from_its_documented_line() {
    let rows: Vec<(&str, Request)> = vec![
        (
            r#"{"v":1,"id":1,"request":{"type":"status","name":null}}"#,
            Request::Status { name: None },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"status"}}"#,
            Request::Status { name: None },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"status","name":"main"}}"#,
            Request::Status {
                name: Some(String::from("main")),
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"start","name":"main"}}"#,
            Request::Start {
                name: String::from("main"),
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"stop","name":"main"}}"#,
            Request::Stop {
                name: String::from("main"),
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"restart","name":"main"}}"#,
            Request::Restart {
                name: String::from("main"),
                force: false,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"restart","name":"main","force":true}}"#,
            Request::Restart {
                name: String::from("main"),
                force: true,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"signal","name":"main","signal":"SIGHUP"}}"#,
            Request::Signal {
                name: String::from("main"),
                signal: SignalName::Hup,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"signal","name":"main","signal":"usr1"}}"#,
            Request::Signal {
                name: String::from("main"),
                signal: SignalName::Usr1,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"logs","name":"main"}}"#,
            Request::Logs {
                name: Some(String::from("main")),
                lines: None,
                follow: false,
                since_ms: None,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"logs","name":"main","lines":50,"follow":true}}"#,
            Request::Logs {
                name: Some(String::from("main")),
                lines: Some(50),
                follow: true,
                since_ms: None,
            },
        ),
        (
            // Every instance's, since a time.
            r#"{"v":1,"id":1,"request":{"type":"logs","since_ms":1760000000000}}"#,
            Request::Logs {
                name: None,
                lines: None,
                follow: false,
                since_ms: Some(1_760_000_000_000),
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"reload"}}"#,
            Request::Reload,
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"check"}}"#,
            Request::Check,
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"events"}}"#,
            Request::live_events(),
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"events","name":"main","lines":5,"since_ms":1000,"follow":true}}"#,
            Request::Events {
                name: Some(String::from("main")),
                lines: Some(5),
                since_ms: Some(1000),
                follow: true,
            },
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"shutdown"}}"#,
            Request::Shutdown,
        ),
        (
            r#"{"v":1,"id":1,"request":{"type":"version"}}"#,
            Request::Version,
        ),
        // Unknown fields are ignored so that a newer client's optional
        // additions reach an older daemon harmlessly.
        (
            r#"{"v":1,"id":1,"extra":true,"request":{"type":"version","future":1}}"#,
            Request::Version,
        ),
        // A trailing CRLF is tolerated (clients written on other systems).
        (
            "{\"v\":1,\"id\":1,\"request\":{\"type\":\"reload\"}}\r\n",
            Request::Reload,
        ),
    ];
    for (line, expected) in rows {
        let decoded = decode_request(line.as_bytes())
            .unwrap_or_else(|err| panic!("{line} should decode: {err}"));
        assert_eq!(decoded.request, expected, "{line}");
        assert_eq!(decoded.id, 1, "{line}");
        assert_eq!(decoded.v, PROTOCOL_VERSION);
    }
}

#[test]
fn every_request_round_trips_through_the_codec() {
    let requests = vec![
        Request::Status { name: None },
        Request::Status {
            name: Some(String::from("rescue")),
        },
        Request::Start {
            name: String::from("a"),
        },
        Request::Stop {
            name: String::from("a"),
        },
        Request::Restart {
            name: String::from("a"),
            force: false,
        },
        Request::Restart {
            name: String::from("a"),
            force: true,
        },
        Request::Signal {
            name: String::from("a"),
            signal: SignalName::Term,
        },
        Request::Logs {
            name: Some(String::from("a")),
            lines: Some(10),
            follow: true,
            since_ms: None,
        },
        Request::Logs {
            name: None,
            lines: None,
            follow: false,
            since_ms: Some(5),
        },
        Request::Reload,
        Request::Check,
        Request::live_events(),
        Request::Shutdown,
        Request::Version,
        Request::Metrics,
        Request::Diff {
            name: String::from("a"),
        },
        Request::Rollback {
            name: String::from("a"),
        },
        Request::Reexec,
    ];
    let covered: std::collections::BTreeSet<&str> =
        requests.iter().map(Request::type_name).collect();
    assert_eq!(
        covered.len(),
        REQUEST_TYPES.len(),
        "a row for every request type"
    );
    for (index, request) in requests.into_iter().enumerate() {
        let envelope = RequestEnvelope::new(index as u64 + 100, request);
        let line = encode_request(&envelope);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(
            line.iter().filter(|byte| **byte == b'\n').count(),
            1,
            "exactly one line"
        );
        assert!(REQUEST_TYPES.contains(&envelope.request.type_name()));
        assert_eq!(decode_request(&line), Ok(envelope));
    }
}

#[test]
fn every_response_round_trips_and_has_its_documented_shape() {
    let rows: Vec<(Response, &str)> = vec![
        (Response::ok(), r#"{"type":"ok"}"#),
        (
            Response::ok_with("stopping main"),
            r#"{"type":"ok","message":"stopping main"}"#,
        ),
        (
            Response::Ok {
                message: Some(String::from("main: stopping")),
                outcome: Some(CommandOutcome {
                    state: String::from("stopping"),
                    acted: true,
                }),
            },
            r#"{"type":"ok","message":"main: stopping","outcome":{"state":"stopping","acted":true}}"#,
        ),
        (
            Response::error(ErrorKind::UnknownInstance, "no instance named `x`"),
            r#"{"type":"error","kind":"unknown_instance","message":"no instance named `x`"}"#,
        ),
        (
            Response::Status {
                instances: vec![status_fixture()],
                rejected: vec![RejectedFile {
                    file: String::from("bad.yaml"),
                    reason: String::from("port 18789 is also used by main"),
                }],
            },
            r#""rejected":[{"file":"bad.yaml","reason":"port 18789 is also used by main"}]"#,
        ),
        (
            Response::Logs {
                name: Some(String::from("main")),
                lines: vec![LogLine {
                    at: Some(5),
                    stream: Some(LogStream::Stderr),
                    text: String::from("boom"),
                    instance: None,
                }],
            },
            r#"{"type":"logs","name":"main","lines":[{"at":5,"stream":"stderr","text":"boom"}]}"#,
        ),
        (
            Response::Logs {
                name: None,
                lines: vec![LogLine {
                    at: Some(5),
                    stream: None,
                    text: String::from("boom"),
                    instance: Some(String::from("rescue")),
                }],
            },
            r#"{"type":"logs","name":null,"lines":[{"at":5,"stream":null,"text":"boom","instance":"rescue"}]}"#,
        ),
        (
            Response::LogLine(LogLine {
                at: None,
                stream: None,
                text: String::from("hello"),
                instance: None,
            }),
            r#"{"type":"log_line","at":null,"stream":null,"text":"hello"}"#,
        ),
        (
            Response::Event(Event {
                at: 7,
                instance: Some(String::from("main")),
                kind: EventKind::RescueTriggered,
                detail: String::from("main failed; starting rescue"),
                seq: None,
            }),
            r#"{"type":"event","at":7,"instance":"main","kind":"rescue_triggered","detail":"main failed; starting rescue"}"#,
        ),
        (
            Response::Version {
                version: String::from("0.1.0"),
                protocol: 1,
            },
            r#"{"type":"version","version":"0.1.0","protocol":1}"#,
        ),
        (
            Response::Check {
                ok: false,
                report: serde_json::json!({"conflicts": [{"kind": "port"}]}),
            },
            r#"{"type":"check","ok":false,"report":{"conflicts":[{"kind":"port"}]}}"#,
        ),
        (
            Response::End {
                reason: EndReason::Shutdown,
            },
            r#"{"type":"end","reason":"shutdown"}"#,
        ),
        (
            Response::Metrics {
                text: String::from("# TYPE x gauge\nx 1\n"),
            },
            r##"{"type":"metrics","text":"# TYPE x gauge\nx 1\n"}"##,
        ),
    ];
    for (response, expected_json) in rows {
        let envelope = ResponseEnvelope::new(Some(9), response);
        let line = encode_response(&envelope);
        let text = String::from_utf8(line.clone()).expect("json is utf-8");
        assert!(text.starts_with(r#"{"v":1,"id":9,"response":{"#), "{text}");
        assert!(
            text.contains(expected_json),
            "{text} should contain {expected_json}"
        );
        assert_eq!(decode_response(&line), Ok(envelope));
    }
}

/// `ok`'s `outcome` is an addition: a client that predates it reads the
/// message alone, and a reply of a daemon that predates it has none.
#[test]
fn an_ok_outcome_is_optional_both_ways() {
    /// `ok` as clients before the field decoded it.
    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum OlderResponse {
        Ok {
            #[serde(default)]
            message: Option<String>,
        },
    }
    #[derive(Debug, serde::Deserialize)]
    struct OlderEnvelope {
        response: OlderResponse,
    }
    let new = r#"{"v":1,"id":3,"response":{"type":"ok","message":"main: already running","outcome":{"state":"running","acted":false}}}"#;
    let older: OlderEnvelope = serde_json::from_str(new).expect("an older client decodes it");
    assert_eq!(
        older.response,
        OlderResponse::Ok {
            message: Some(String::from("main: already running"))
        }
    );
    let old = r#"{"v":1,"id":3,"response":{"type":"ok","message":"starting main"}}"#;
    assert_eq!(
        decode_response(old.as_bytes()).map(|envelope| envelope.response),
        Ok(Response::ok_with("starting main"))
    );
}

#[test]
fn forward_compatible_values_decode_as_other() {
    let rows: Vec<(&str, Response)> = vec![
        (
            r#"{"v":1,"id":1,"response":{"type":"error","kind":"brand_new","message":"m"}}"#,
            Response::error(ErrorKind::Other, "m"),
        ),
        (
            r#"{"v":1,"id":1,"response":{"type":"end","reason":"brand_new"}}"#,
            Response::End {
                reason: EndReason::Other,
            },
        ),
        (
            r#"{"v":1,"id":1,"response":{"type":"event","at":1,"instance":null,"kind":"brand_new","detail":""}}"#,
            Response::Event(Event {
                at: 1,
                instance: None,
                kind: EventKind::Other,
                detail: String::new(),
                seq: None,
            }),
        ),
    ];
    for (line, expected) in rows {
        let decoded = decode_response(line.as_bytes()).expect(line);
        assert_eq!(decoded.response, expected, "{line}");
    }
}

#[test]
fn signal_names_parse_in_every_spelling_and_map_to_numbers() {
    let rows: Vec<(&str, Option<SignalName>)> = vec![
        ("TERM", Some(SignalName::Term)),
        ("SIGTERM", Some(SignalName::Term)),
        ("sigterm", Some(SignalName::Term)),
        (" hup ", Some(SignalName::Hup)),
        ("WINCH", Some(SignalName::Winch)),
        ("SIGSEGV", None),
        ("15", None),
        ("", None),
    ];
    for (text, expected) in rows {
        assert_eq!(text.parse::<SignalName>().ok(), expected, "{text:?}");
    }
    for signal in SignalName::ALL {
        assert_eq!(signal.as_str().parse::<SignalName>(), Ok(signal));
        assert!(signal.number() > 0);
    }
    assert_eq!(SignalName::Kill.number(), 9);
    assert_eq!(SignalName::Term.number(), 15);
}

#[test]
fn streaming_requests_are_events_and_followed_logs() {
    let rows = vec![
        (Request::live_events(), true),
        (
            Request::Events {
                name: Some(String::from("a")),
                lines: Some(3),
                since_ms: None,
                follow: false,
            },
            true,
        ),
        (
            Request::Logs {
                name: Some(String::from("a")),
                lines: None,
                follow: true,
                since_ms: None,
            },
            true,
        ),
        (
            Request::Logs {
                name: Some(String::from("a")),
                lines: None,
                follow: false,
                since_ms: None,
            },
            false,
        ),
        (Request::Status { name: None }, false),
    ];
    for (request, streaming) in rows {
        assert_eq!(request.is_streaming(), streaming, "{request:?}");
    }
}

#[test]
fn every_example_in_protocol_md_decodes() {
    let document = include_str!("../../../../PROTOCOL.md");
    let mut requests = std::collections::BTreeSet::new();
    let mut responses = 0;
    for line in document.lines() {
        if let Some(request) = line.strip_prefix("> ") {
            let envelope = decode_request(request.as_bytes())
                .unwrap_or_else(|err| panic!("PROTOCOL.md request {request}: {err}"));
            requests.insert(envelope.request.type_name());
        } else if let Some(response) = line.strip_prefix("< ") {
            decode_response(response.as_bytes())
                .unwrap_or_else(|err| panic!("PROTOCOL.md response {response}: {err}"));
            responses += 1;
        }
    }
    assert_eq!(
        requests.len(),
        REQUEST_TYPES.len(),
        "PROTOCOL.md shows every request type: {requests:?}"
    );
    assert!(
        responses >= 15,
        "PROTOCOL.md shows the responses ({responses})"
    );
}

#[test]
fn only_an_events_request_with_a_field_asks_for_the_backlog() {
    let rows = [
        // Protocol 1's request, and what it has always meant: live only.
        (r#"{"type":"events"}"#, false),
        (r#"{"type":"events","follow":false}"#, false),
        (r#"{"type":"events","follow":true}"#, true),
        (r#"{"type":"events","name":"main"}"#, true),
        (r#"{"type":"events","lines":0}"#, true),
        (r#"{"type":"events","since_ms":0}"#, true),
        (r#"{"type":"status"}"#, false),
    ];
    for (line, backlog) in rows {
        let request: Request = serde_json::from_str(line).expect("decodes");
        assert_eq!(request.wants_backlog(), backlog, "{line}");
    }
    assert_eq!(
        serde_json::to_string(&Request::live_events()).expect("encodes"),
        r#"{"type":"events"}"#
    );
}

/// A status reply takes its own quick way in `decode_response`: the same
/// reply as the enum's, `rejected` optional, its tag wherever it stands, and
/// any other reply or version still decoded (or refused) as before.
#[test]
fn a_status_reply_decodes_as_the_enum_does_wherever_its_tag_stands() {
    let instance = InstanceStatus {
        name: String::from("main"),
        state: String::from("running"),
        ..InstanceStatus::default()
    };
    let full = ResponseEnvelope::new(
        Some(3),
        Response::Status {
            instances: vec![instance.clone()],
            rejected: vec![RejectedFile {
                file: String::from("bad.yaml"),
                reason: String::from("no"),
            }],
        },
    );
    assert_eq!(decode_response(&encode_response(&full)), Ok(full));

    let body = serde_json::to_value(&instance).expect("json");
    let tag_last =
        serde_json::json!({"v": 1, "id": 4, "response": {"instances": [body], "type": "status"}});
    let decoded = decode_response(tag_last.to_string().as_bytes()).expect("decodes");
    assert_eq!(
        decoded.response,
        Response::Status {
            instances: vec![instance],
            rejected: Vec::new(),
        }
    );

    let newer = br#"{"v":2,"id":1,"response":{"type":"status","instances":[]}}"#;
    let err = decode_response(newer).expect_err("another version");
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    let not_status = br#"{"v":1,"id":1,"response":{"type":"ok","message":null}}"#;
    assert_eq!(
        decode_response(not_status).map(|e| e.response),
        Ok(Response::ok())
    );
}
