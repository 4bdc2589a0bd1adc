use super::*;
use proptest::prelude::*;
use time::macros::datetime;

const AK: &str = "FAKEAK0123456789";
const SK: &str = "FAKESKabcdefghijklmnopqrstuvwxyz";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const NOW: OffsetDateTime = datetime!(2024-01-01 12:00:00 UTC);
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn h(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn reference_headers() -> Vec<(String, String)> {
    vec![
        h("Content-Type", "application/json"),
        h("X-Project-Id", PROJECT),
        h("X-Sdk-Date", "20240101T120000Z"),
        h("Host", "127.0.0.1:9000"),
    ]
}

fn authorization_of(headers: &[(String, String)]) -> String {
    header_value(headers, "authorization").expect("Authorization header added")
}

fn reference_signed() -> Vec<String> {
    ["content-type", "host", "x-project-id", "x-sdk-date"]
        .map(String::from)
        .to_vec()
}

// ---------------------------------------------------------------- vectors

#[test]
fn reference_vector_a() {
    let path = format!("/v1/{PROJECT}/vpc-endpoint-services");
    let mut headers = reference_headers();
    let parts = RequestParts {
        method: "GET",
        raw_path: &path,
        raw_query: "limit=10&offset=0",
        headers: &headers,
        body: b"",
    };
    let creq = canonical_request(&parts, &reference_signed()).unwrap();
    let expected_creq = "GET
/v1/0123456789abcdef0123456789abcdef/vpc-endpoint-services/
limit=10&offset=0
content-type:application/json
host:127.0.0.1:9000
x-project-id:0123456789abcdef0123456789abcdef
x-sdk-date:20240101T120000Z

content-type;host;x-project-id;x-sdk-date
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(creq, expected_creq);
    let sts = string_to_sign("20240101T120000Z", &creq);
    assert_eq!(
        sts,
        "SDK-HMAC-SHA256\n20240101T120000Z\n9e4fbc2525eddb69f034ac1cdf2570d7692df5e49a4cf889f2ad6e1c1b2878c6"
    );
    let expected_auth = "SDK-HMAC-SHA256 Access=FAKEAK0123456789, \
        SignedHeaders=content-type;host;x-project-id;x-sdk-date, \
        Signature=13a44f372bb3a6ba4702c5724a1f57134bf529d511edff86a747adaca3aa95d0";
    assert_eq!(
        signature_hex(SK, &sts),
        "13a44f372bb3a6ba4702c5724a1f57134bf529d511edff86a747adaca3aa95d0"
    );

    // The client side produces the same header (X-Sdk-Date kept, not replaced by `now`).
    sign_request(
        AK,
        SK,
        "GET",
        &path,
        "limit=10&offset=0",
        &mut headers,
        b"",
        datetime!(2030-01-01 00:00:00 UTC),
    );
    assert_eq!(authorization_of(&headers), expected_auth);

    // And the server side accepts it.
    let auth = parse_authorization(expected_auth).unwrap();
    let parts = RequestParts {
        method: "GET",
        raw_path: &path,
        raw_query: "limit=10&offset=0",
        headers: &headers,
        body: b"",
    };
    verify(&parts, &auth, SK, NOW, Duration::minutes(15)).unwrap();
}

#[test]
fn reference_vector_b() {
    let path = format!(
        "/v1/{PROJECT}/vpc-endpoint-services/4189d3c2-8882-4871-a3c2-d380272eed83/connections/action"
    );
    let body: &[u8] =
        br#"{"action": "receive", "endpoints": ["705290f3-0d00-41f2-aedc-71f09844e879"]}"#;
    let mut headers = reference_headers();
    let parts = RequestParts {
        method: "POST",
        raw_path: &path,
        raw_query: "",
        headers: &headers,
        body,
    };
    let creq = canonical_request(&parts, &reference_signed()).unwrap();
    let lines: Vec<&str> = creq.split('\n').collect();
    assert_eq!(
        lines[1],
        "/v1/0123456789abcdef0123456789abcdef/vpc-endpoint-services/4189d3c2-8882-4871-a3c2-d380272eed83/connections/action/"
    );
    assert_eq!(lines[2], "", "empty query line");
    assert_eq!(
        lines.last().copied(),
        Some("b1cb0a085d760f0f0e006429ccacb50763274b028f9f8b9b2baa90a4b9c216fa")
    );
    let sts = string_to_sign("20240101T120000Z", &creq);
    assert_eq!(
        sts,
        "SDK-HMAC-SHA256\n20240101T120000Z\n7ac9ffd2f4c74fe0656c7c21d73fc15a559e907cbff0c7746dffabebf01ea494"
    );
    sign_request(AK, SK, "POST", &path, "", &mut headers, body, NOW);
    assert_eq!(
        authorization_of(&headers),
        "SDK-HMAC-SHA256 Access=FAKEAK0123456789, \
         SignedHeaders=content-type;host;x-project-id;x-sdk-date, \
         Signature=b42be49c7a47383e14bc686d0f3f00b0140715a121876dee3fb5a9bd1fd5c3a9"
    );
}

/// Expected values computed with the logic of `shared/tools/hw_verify_sig.py`
/// (Python `quote`/`unquote`/`parse_qsl`/`hmac`) for a request exercising
/// escapes, unicode, repeated and blank query keys, untrimmed header values
/// and a non-ASCII body.
#[test]
fn python_verifier_cross_check() {
    let path = "/v1/0123456789abcdef0123456789abcdef/vpc%20endpoints/caf%C3%A9~x_y.z/%25zz";
    let query = "marker=%E2%9C%93&limit=5&b=2&b=1&empty=&flag";
    let body = "{\"name\": \"ép 1\", \"tags\": []}".as_bytes();
    let mut headers = vec![
        h("Content-Type", "application/json;charset=UTF-8"),
        h("Host", "vpcep.example.com:8443"),
        h("X-Project-Id", PROJECT),
        h("X-Sdk-Date", "20240315T083000Z"),
        h("User-Agent", "  huaweicloud-usdk-python/3.0  "),
    ];
    let signed: Vec<String> = [
        "content-type",
        "host",
        "user-agent",
        "x-project-id",
        "x-sdk-date",
    ]
    .map(String::from)
    .to_vec();
    let parts = RequestParts {
        method: "put",
        raw_path: path,
        raw_query: query,
        headers: &headers,
        body,
    };
    let creq = canonical_request(&parts, &signed).unwrap();
    assert_eq!(
        creq,
        "PUT\n/v1/0123456789abcdef0123456789abcdef/vpc%20endpoints/caf%C3%A9~x_y.z/%25zz/\n\
         b=1&b=2&empty=&flag=&limit=5&marker=%E2%9C%93\n\
         content-type:application/json;charset=UTF-8\nhost:vpcep.example.com:8443\n\
         user-agent:huaweicloud-usdk-python/3.0\nx-project-id:0123456789abcdef0123456789abcdef\n\
         x-sdk-date:20240315T083000Z\n\ncontent-type;host;user-agent;x-project-id;x-sdk-date\n\
         137d4cb3431ea1afd3c62a3bb8f1b2c14cd7725d2405028a62ff7e470316c995"
    );
    let sts = string_to_sign("20240315T083000Z", &creq);
    assert_eq!(
        sts,
        "SDK-HMAC-SHA256\n20240315T083000Z\n7ff4c35af7e417d7abd4279bf33f7636a2398f151b7068e223f81d7a08dcc66d"
    );
    const PY_SIGNATURE: &str = "a6ae9fd91b3e7f52f610b770399fd252e0486fd0c841786acc661615ee3e3f61";
    assert_eq!(signature_hex(SK, &sts), PY_SIGNATURE);
    sign_request(AK, SK, "PUT", path, query, &mut headers, body, NOW);
    let auth = parse_authorization(&authorization_of(&headers)).unwrap();
    assert_eq!(auth.signature, PY_SIGNATURE);
    assert_eq!(auth.signed_headers, signed);
}

// ---------------------------------------------------------------- canonicalisation

#[test]
fn canonical_uri_cases() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a/b/"), "/a/b/");
    assert_eq!(canonical_uri("/a b/%7Ex"), "/a%20b/~x/");
    // An escaped slash becomes a real separator, as in the SDK.
    assert_eq!(canonical_uri("/a%2Fb"), "/a/b/");
    // Malformed escapes are kept literally (and then escaped).
    assert_eq!(canonical_uri("/100%/x%zz"), "/100%25/x%25zz/");
    assert_eq!(canonical_uri("/caf\u{e9}"), "/caf%C3%A9/");
    // Invalid UTF-8 decodes to U+FFFD like Python's unquote.
    assert_eq!(canonical_uri("/%FF"), "/%EF%BF%BD/");
}

#[test]
fn canonical_query_cases() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("&&"), "");
    assert_eq!(canonical_query("offset=0&limit=10"), "limit=10&offset=0");
    assert_eq!(canonical_query("a=2&a=1&a"), "a=&a=1&a=2");
    assert_eq!(
        canonical_query("k=a+b"),
        "k=a%20b",
        "'+' is a space, as parse_qsl reads it"
    );
    assert_eq!(canonical_query("k=a%2Bb"), "k=a%2Bb", "'%2B' is a plus");
    assert_ne!(canonical_query("k=a+b"), canonical_query("k=a%2Bb"));
    assert_eq!(canonical_query("k=a%20b"), "k=a%20b");
    assert_eq!(canonical_query("k=x=y"), "k=x%3Dy");
    assert_eq!(canonical_query("n%61me=%7e"), "name=~");
    // Sorted on decoded text: ' ' (0x20) < '-' (0x2d) although '%' < '-' too.
    assert_eq!(canonical_query("a-b=1&a%20b=2"), "a%20b=2&a-b=1");
}

#[test]
fn repeated_headers_are_joined() {
    let headers = vec![h("Host", "h"), h("x-a", " 1 "), h("X-A", "2")];
    let parts = RequestParts {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &headers,
        body: b"",
    };
    let creq = canonical_request(&parts, &["x-a".to_owned()]).unwrap();
    assert!(creq.contains("\nx-a:1,2\n"), "{creq}");
}

#[test]
fn missing_signed_header_is_an_error() {
    let headers = vec![h("Host", "h")];
    let parts = RequestParts {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &headers,
        body: b"",
    };
    let err = canonical_request(&parts, &["host".to_owned(), "x-missing".to_owned()]).unwrap_err();
    assert!(matches!(err, AuthError::MissingHeader(ref n) if n == "x-missing"));
}

#[test]
fn sdk_date_format_and_parse() {
    assert_eq!(
        format_sdk_date(datetime!(2024-01-01 12:00:00 UTC)),
        "20240101T120000Z"
    );
    assert_eq!(
        format_sdk_date(datetime!(2024-01-02 01:02:03 +08:00)),
        "20240101T170203Z"
    );
    assert_eq!(
        parse_sdk_date("20240229T235959Z").unwrap(),
        datetime!(2024-02-29 23:59:59 UTC)
    );
    for bad in [
        "",
        "20240101T120000",
        "20240101 120000Z",
        "2024-01-01T12:00:00Z",
        "20240230T120000Z",
        "20241301T120000Z",
        "20240101T240000Z",
        "+2024101T120000Z",
        "20240101T12000\u{660}Z",
    ] {
        assert!(
            matches!(parse_sdk_date(bad), Err(AuthError::InvalidDate)),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------- Authorization parsing

#[test]
fn parse_authorization_accepts_sdk_format() {
    let sig = "ab".repeat(32);
    let auth = parse_authorization(&format!(
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature={sig}"
    ))
    .unwrap();
    assert_eq!(
        auth,
        Authorization {
            access_key: "AK1".into(),
            signed_headers: vec!["host".into(), "x-sdk-date".into()],
            signature: sig.clone(),
        }
    );
    assert_eq!(parse_authorization(&auth.to_header_value()).unwrap(), auth);
}

#[test]
fn parse_authorization_rejects_malformed() {
    let sig = "ab".repeat(32);
    assert!(matches!(
        parse_authorization(&format!(
            "SDK-HMAC-SM3 Access=A, SignedHeaders=host, Signature={sig}"
        )),
        Err(AuthError::UnsupportedAlgorithm)
    ));
    for bad in [
        String::new(),
        "SDK-HMAC-SHA256".to_owned(),
        format!("SDK-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature={sig}, Extra=1"),
        format!("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, SignedHeaders=, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, SignedHeaders=host;;x, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, SignedHeaders=Host, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access=A, SignedHeaders=host;host, Signature={sig}"),
        format!(
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature={}",
            "AB".repeat(32)
        ),
        format!(
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature={}",
            "ab".repeat(31)
        ),
        "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=zz".to_owned(),
    ] {
        assert!(
            matches!(
                parse_authorization(&bad),
                Err(AuthError::MalformedAuthorization(_))
            ),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------- round trip and rejections

struct Signed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Signed {
    fn new(path: &str, query: &str, body: &[u8], extra: &[(&str, &str)]) -> Self {
        let mut headers = vec![
            h("Host", "127.0.0.1:9000"),
            h("Content-Type", "application/json"),
            h("X-Project-Id", PROJECT),
        ];
        headers.extend(extra.iter().map(|(n, v)| h(n, v)));
        sign_request(AK, SK, "POST", path, query, &mut headers, body, NOW);
        Self {
            method: "POST".into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: body.to_vec(),
        }
    }

    fn check_at(&self, secret: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        let auth = parse_authorization(&authorization_of(&self.headers))?;
        let parts = RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &self.headers,
            body: &self.body,
        };
        verify(&parts, &auth, secret, now, Duration::minutes(15))
    }

    fn check(&self) -> Result<(), AuthError> {
        self.check_at(SK, NOW)
    }

    fn set_header(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
    }
}

fn sample() -> Signed {
    Signed::new(
        "/v1/p/vpc-endpoints",
        "limit=10&offset=0",
        br#"{"endpoint": {"port_ip": "10.0.0.5"}}"#,
        &[],
    )
}

#[test]
fn round_trip() {
    let s = sample();
    s.check().unwrap();
    assert_eq!(
        header_value(&s.headers, "x-sdk-date").as_deref(),
        Some("20240101T120000Z")
    );
    let auth = parse_authorization(&authorization_of(&s.headers)).unwrap();
    assert_eq!(auth.access_key, AK);
    assert_eq!(auth.signed_headers, reference_signed());
    // Equivalent spellings of path and query still verify.
    let mut s2 = sample();
    s2.path = "/v1/p/vpc%2Dendpoints/".into();
    s2.query = "offset=0&limit=1%30".into();
    s2.check().unwrap();
    // Method case does not matter.
    s2.method = "post".into();
    s2.check().unwrap();
}

#[test]
fn sign_request_replaces_existing_authorization() {
    let mut headers = vec![h("Host", "h"), h("authorization", "stale")];
    sign_request(AK, SK, "GET", "/", "", &mut headers, b"", NOW);
    let auths: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(
        parse_authorization(&auths[0].1).unwrap().signed_headers,
        ["host", "x-sdk-date"]
    );
}

#[test]
fn rejects_wrong_key() {
    assert!(matches!(
        sample().check_at("FAKESKabcdefghijklmnopqrstuvwxyZ", NOW),
        Err(AuthError::SignatureMismatch)
    ));
}

#[test]
fn rejects_altered_body() {
    let mut s = sample();
    s.body = br#"{"endpoint": {"port_ip": "10.0.0.6"}}"#.to_vec();
    assert!(matches!(s.check(), Err(AuthError::SignatureMismatch)));
}

#[test]
fn rejects_altered_path() {
    let mut s = sample();
    s.path = "/v1/q/vpc-endpoints".into();
    assert!(matches!(s.check(), Err(AuthError::SignatureMismatch)));
}

#[test]
fn rejects_altered_query() {
    for query in [
        "limit=11&offset=0",
        "limit=10&offset=0&x=1",
        "limit=10",
        "limit=10&offset=0&offset=0",
    ] {
        let mut s = sample();
        s.query = query.into();
        assert!(
            matches!(s.check(), Err(AuthError::SignatureMismatch)),
            "{query}"
        );
    }
}

#[test]
fn rejects_altered_method() {
    let mut s = sample();
    s.method = "PUT".into();
    assert!(matches!(s.check(), Err(AuthError::SignatureMismatch)));
}

#[test]
fn rejects_altered_signed_header() {
    for (name, value) in [
        ("X-Project-Id", "ffffffffffffffffffffffffffffffff"),
        ("Host", "evil:9000"),
    ] {
        let mut s = sample();
        s.set_header(name, value);
        assert!(
            matches!(s.check(), Err(AuthError::SignatureMismatch)),
            "{name}"
        );
    }
    // A second copy of a signed header changes its canonical value.
    let mut s = sample();
    s.headers.push(h("x-project-id", "other"));
    assert!(matches!(s.check(), Err(AuthError::SignatureMismatch)));
}

#[test]
fn rejects_removed_signed_header() {
    let mut s = sample();
    s.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    assert!(matches!(s.check(), Err(AuthError::MissingHeader(ref n)) if n == "content-type"));
}

#[test]
fn rejects_date_outside_skew_window() {
    let s = sample();
    s.check_at(SK, NOW + Duration::minutes(15)).unwrap();
    s.check_at(SK, NOW - Duration::minutes(15)).unwrap();
    for now in [
        NOW + Duration::minutes(15) + Duration::seconds(1),
        NOW - Duration::minutes(15) - Duration::seconds(1),
        NOW + Duration::days(365),
    ] {
        assert!(
            matches!(s.check_at(SK, now), Err(AuthError::DateOutOfRange)),
            "{now}"
        );
    }
    // Altering the date to look fresh breaks the signature.
    let mut s = sample();
    s.set_header("X-Sdk-Date", "20240101T130000Z");
    assert!(matches!(
        s.check_at(SK, datetime!(2024-01-01 13:00:00 UTC)),
        Err(AuthError::SignatureMismatch)
    ));
}

#[test]
fn rejects_invalid_date() {
    let mut s = sample();
    s.set_header("X-Sdk-Date", "2024-01-01T12:00:00Z");
    assert!(matches!(s.check(), Err(AuthError::InvalidDate)));
}

#[test]
fn rejects_missing_sdk_date() {
    // Signed, then dropped from the request.
    let mut s = sample();
    s.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-sdk-date"));
    assert!(matches!(s.check(), Err(AuthError::MissingHeader(ref n)) if n == "x-sdk-date"));

    // Never sent nor signed (validly signed otherwise).
    let headers = vec![h("Host", "127.0.0.1:9000")];
    let parts = RequestParts {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &headers,
        body: b"",
    };
    let signed = vec!["host".to_owned()];
    let creq = canonical_request(&parts, &signed).unwrap();
    let auth = Authorization {
        access_key: AK.into(),
        signed_headers: signed,
        signature: signature_hex(SK, &string_to_sign("20240101T120000Z", &creq)),
    };
    assert!(matches!(
        verify(&parts, &auth, SK, NOW, Duration::minutes(15)),
        Err(AuthError::DateNotSigned)
    ));
}

#[test]
fn rejects_unsigned_host() {
    let headers = vec![
        h("Host", "127.0.0.1:9000"),
        h("X-Sdk-Date", "20240101T120000Z"),
    ];
    let parts = RequestParts {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &headers,
        body: b"",
    };
    let signed = vec!["x-sdk-date".to_owned()];
    let creq = canonical_request(&parts, &signed).unwrap();
    let auth = Authorization {
        access_key: AK.into(),
        signed_headers: signed,
        signature: signature_hex(SK, &string_to_sign("20240101T120000Z", &creq)),
    };
    assert!(matches!(
        verify(&parts, &auth, SK, NOW, Duration::minutes(15)),
        Err(AuthError::HostNotSigned)
    ));
}

#[test]
fn header_with_underscore_is_not_signed() {
    let mut s = Signed::new(
        "/v1/p/x",
        "",
        b"",
        &[("X_Custom_Header", "one"), ("X-Trace", "t")],
    );
    let auth = parse_authorization(&authorization_of(&s.headers)).unwrap();
    assert_eq!(
        auth.signed_headers,
        [
            "content-type",
            "host",
            "x-project-id",
            "x-sdk-date",
            "x-trace"
        ]
    );
    // Being unsigned, it can change without breaking the signature...
    s.set_header("X_Custom_Header", "two");
    s.check().unwrap();
    // ...whereas a signed neighbour cannot.
    s.set_header("X-Trace", "u");
    assert!(matches!(s.check(), Err(AuthError::SignatureMismatch)));
}

// ---------------------------------------------------------------- properties

/// Escapes like a typical client would put the segment on the wire.
fn wire(s: &str) -> String {
    encode(s)
}

fn segment() -> impl Strategy<Value = String> {
    // Anything but '/': spaces, '%', '+', unicode, controls.
    prop_oneof![
        "[^/]{0,12}",
        "[ %+a-z~._-]{0,8}",
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("caf\u{e9} \u{1f600}".to_owned()),
    ]
}

fn pair() -> impl Strategy<Value = (String, String)> {
    (".{0,6}", ".{0,10}")
}

fn query_of(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", wire(k), wire(v)))
        .collect::<Vec<_>>()
        .join("&")
}

proptest! {
    #[test]
    fn prop_sign_verify_round_trip(
        segments in prop::collection::vec(segment(), 0..5),
        pairs in prop::collection::vec(pair(), 0..5),
        body in prop::collection::vec(any::<u8>(), 0..256),
        encoded in any::<bool>(),
    ) {
        // Both escaped (as sent by real clients) and raw (as an odd client might send) paths.
        let path = if encoded {
            format!("/{}", segments.iter().map(|s| wire(s)).collect::<Vec<_>>().join("/"))
        } else {
            format!("/{}", segments.join("/"))
        };
        let query = query_of(&pairs);
        let s = Signed::new(&path, &query, &body, &[]);
        prop_assert!(s.check().is_ok());

        // A different body never verifies.
        let mut tampered = Signed::new(&path, &query, &body, &[]);
        tampered.body.push(0);
        prop_assert!(matches!(tampered.check(), Err(AuthError::SignatureMismatch)));
    }

    #[test]
    fn prop_canonical_uri_matches_segment_encoding(segments in prop::collection::vec(segment(), 1..5)) {
        let path = format!("/{}", segments.iter().map(|s| wire(s)).collect::<Vec<_>>().join("/"));
        let mut expected = format!("/{}", segments.iter().map(|s| encode(s)).collect::<Vec<_>>().join("/"));
        if !expected.ends_with('/') {
            expected.push('/');
        }
        prop_assert_eq!(canonical_uri(&path), expected);
    }

    #[test]
    fn prop_canonical_query_is_order_independent(
        (pairs, shuffled) in prop::collection::vec(pair(), 0..8)
            .prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle()))
    ) {
        let a = canonical_query(&query_of(&pairs));
        prop_assert_eq!(&a, &canonical_query(&query_of(&shuffled)));
        // Canonical form is a fixed point.
        prop_assert_eq!(&canonical_query(&a), &a);

        // A request signed with one order verifies with any other.
        let mut s = Signed::new("/v1/p/x", &query_of(&pairs), b"", &[]);
        s.query = query_of(&shuffled);
        prop_assert!(s.check().is_ok());
    }
}

#[test]
fn empty_body_hash() {
    assert_eq!(sha256_hex(b""), EMPTY_SHA256);
}
