//! What the codec says of lines it cannot take: each malformed request its
//! own error naming the problem, and malformed responses decode errors for
//! the client.

use super::*;

#[test]
fn every_malformed_request_gets_its_own_error_naming_the_problem() {
    let oversized = {
        let mut line = br#"{"v":1,"id":1,"request":{"type":"status","name":""#.to_vec();
        line.resize(MAX_LINE + 1, b'a');
        line
    };
    // (line, expected kind, expected id, words the message must contain)
    let rows: Vec<(Vec<u8>, ErrorKind, Option<u64>, &str)> = vec![
        (oversized, ErrorKind::TooLarge, None, "too large"),
        (
            vec![0xff, 0xfe, 0x00, 0x9c],
            ErrorKind::NotUtf8,
            None,
            "not UTF-8",
        ),
        (
            b"{\"v\":1,\xc3\x28}".to_vec(),
            ErrorKind::NotUtf8,
            None,
            "offset 7",
        ),
        (
            b"{\"v\":1,".to_vec(),
            ErrorKind::MalformedJson,
            None,
            "malformed JSON",
        ),
        (
            b"".to_vec(),
            ErrorKind::MalformedJson,
            None,
            "malformed JSON",
        ),
        (
            b"status main".to_vec(),
            ErrorKind::MalformedJson,
            None,
            "malformed JSON",
        ),
        (
            b"[1,2]".to_vec(),
            ErrorKind::MalformedJson,
            None,
            "got an array",
        ),
        (
            br#"{"id":3,"request":{"type":"status"}}"#.to_vec(),
            ErrorKind::MissingField,
            Some(3),
            "`v`",
        ),
        (
            br#"{"v":"1","id":3,"request":{"type":"status"}}"#.to_vec(),
            ErrorKind::BadRequest,
            Some(3),
            "`v`",
        ),
        (
            br#"{"v":2,"id":3,"request":{"type":"status"}}"#.to_vec(),
            ErrorKind::UnsupportedVersion,
            Some(3),
            "version 2",
        ),
        (
            br#"{"v":1,"request":{"type":"status"}}"#.to_vec(),
            ErrorKind::MissingField,
            None,
            "`id`",
        ),
        (
            br#"{"v":1,"id":-4,"request":{"type":"status"}}"#.to_vec(),
            ErrorKind::BadRequest,
            None,
            "`id`",
        ),
        (
            br#"{"v":1,"id":3}"#.to_vec(),
            ErrorKind::MissingField,
            Some(3),
            "`request`",
        ),
        (
            br#"{"v":1,"id":3,"request":"status"}"#.to_vec(),
            ErrorKind::BadRequest,
            Some(3),
            "expected an object",
        ),
        (
            br#"{"v":1,"id":3,"request":{"name":"main"}}"#.to_vec(),
            ErrorKind::MissingField,
            Some(3),
            "`request.type`",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"explode"}}"#.to_vec(),
            ErrorKind::UnknownRequest,
            Some(3),
            "`explode`",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"stop"}}"#.to_vec(),
            ErrorKind::MissingField,
            Some(3),
            "`request.name`",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"signal","name":"main"}}"#.to_vec(),
            ErrorKind::MissingField,
            Some(3),
            "`request.signal`",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"signal","name":"main","signal":"SIGBOOM"}}"#
                .to_vec(),
            ErrorKind::BadRequest,
            Some(3),
            "unknown signal `SIGBOOM`",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"logs","name":"main","lines":"ten"}}"#.to_vec(),
            ErrorKind::BadRequest,
            Some(3),
            "invalid type",
        ),
        (
            br#"{"v":1,"id":3,"request":{"type":"stop","name":7}}"#.to_vec(),
            ErrorKind::BadRequest,
            Some(3),
            "invalid type",
        ),
    ];
    for (line, kind, id, words) in rows {
        let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
        let err = decode_request(&line).expect_err(&shown);
        assert_eq!(err.kind(), kind, "{shown}: {err}");
        assert_eq!(err.id, id, "{shown}: {err}");
        assert!(
            err.to_string().contains(words),
            "{shown}: `{err}` should say {words}"
        );
        let reply = err.to_response();
        assert_eq!(reply.id, id);
        assert_eq!(
            reply.response,
            Response::error(kind, err.to_string()),
            "the reply carries the kind and the message"
        );
    }
}

#[test]
fn malformed_responses_are_decode_errors_for_the_client() {
    let rows: Vec<(&[u8], ErrorKind)> = vec![
        (b"not json", ErrorKind::MalformedJson),
        (br#"{"v":1,"id":1}"#, ErrorKind::MissingField),
        (
            br#"{"v":7,"id":1,"response":{"type":"ok"}}"#,
            ErrorKind::UnsupportedVersion,
        ),
        (
            br#"{"v":1,"id":1,"response":{"type":"nope"}}"#,
            ErrorKind::UnknownRequest,
        ),
        (
            br#"{"v":1,"id":1,"response":{"type":"version"}}"#,
            ErrorKind::MissingField,
        ),
    ];
    for (line, kind) in rows {
        let err = decode_response(line).expect_err("must not decode");
        assert_eq!(err.kind(), kind, "{}: {err}", String::from_utf8_lossy(line));
    }
}
