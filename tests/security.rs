//! Security tests (issue 8, part 3): the token never leaks, token comparison takes one path,
//! echoed input is bounded and clean, 5xx answers carry no inner text, and a huge error body is
//! never buffered.
//!
//! The unit-level constant-time test lives in `src/auth/validator.rs` (`mod constant_time`): it
//! needs the validator's private digest table.
//!
//! This binary installs a global allocator that tracks the live and peak bytes of each thread
//! (only [`a_100_mb_error_body_is_not_buffered`] reads it). Every future except the network test
//! is driven on the test's own thread by [`drive`], so the per-thread figures are the request's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use http_body_util::Limited;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_envelope::content_type::RequestBody;
use tower_envelope::error::{MAX_ECHO_LEN, MAX_MESSAGE_LEN};
use tower_envelope::format::{
    Defender, Edgio, Format, Google, Msi, Problem, QRadar, REQUEST_ID_HEADER,
};
use tower_envelope::{
    ApiError, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, Scheme,
    StaticTokens, TokenError, TokenValidator, UrlEncodingLayer,
};

// ---- a per-thread live/peak byte counter ---------------------------------------------------------

struct Tracking;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    LIVE.with(|live| {
        let now = live.get() + bytes as isize;
        live.set(now);
        PEAK.with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    LIVE.with(|live| live.set(live.get() - bytes as isize));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` and returns how far the live bytes of this thread rose above their level at the
/// start, at their peak.
fn peak_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (usize::try_from(peak - base).unwrap_or(0), out)
}

// ---- shared helpers ------------------------------------------------------------------------------

/// Polls `future` to completion on this thread with a no-op waker. Every service and body here
/// is always ready, so a future still pending after many polls is a hang.
fn drive<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the future never completed although everything below it is always ready");
}

/// The data of a body, read to its end (an error ends it too).
fn body_bytes<B: Body<Data = Bytes>>(body: B) -> Vec<u8> {
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut data = Vec::new();
    for _ in 0..1_000_000 {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    data.extend_from_slice(d);
                }
            }
            Poll::Ready(_) => return data,
            Poll::Pending => {}
        }
    }
    panic!("the body never ended");
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    error: Option<ApiError>,
}

impl Reply {
    fn read<B: Body<Data = Bytes>>(response: Response<B>) -> Self {
        let (parts, body) = response.into_parts();
        let reply = Self {
            status: parts.status,
            error: parts.extensions.get::<ApiError>().cloned(),
            headers: parts.headers,
            body: body_bytes(body),
        };
        reply.assert_clean_headers();
        reply
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every header, as `name: value` lines (values lossily decoded).
    fn head(&self) -> String {
        self.headers
            .iter()
            .map(|(n, v)| format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    /// No header value holds CR, LF or NUL (whatever the request held).
    fn assert_clean_headers(&self) {
        for (name, value) in &self.headers {
            let bytes = value.as_bytes();
            assert!(
                !bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
                "header {name} holds CR, LF or NUL: {value:?}"
            );
        }
    }

    /// Neither the body nor any header contains `needle`.
    fn assert_absent(&self, needle: &str, context: &str) {
        assert!(
            !self.text().contains(needle),
            "{context}: body contains {needle:?}: {}",
            self.text()
        );
        assert!(
            !self.head().contains(needle),
            "{context}: headers contain {needle:?}:\n{}",
            self.head()
        );
    }
}

fn ok_service<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
       + Clone
       + Send {
    service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

/// The six formats, each as the `Format` of an envelope; Problem with or without `instance`
/// (the request path, which `Problem::with_instance` echoes unbounded and uncleaned: see
/// `problem_instance_echoes_a_bounded_clean_path`).
fn formats(instance: bool) -> Vec<(&'static str, Arc<dyn Format>)> {
    let problem = if instance {
        Problem::new().with_instance()
    } else {
        Problem::new()
    };
    vec![
        ("defender", Arc::new(Defender)),
        ("qradar", Arc::new(QRadar::new())),
        ("msi", Arc::new(Msi)),
        ("edgio", Arc::new(Edgio)),
        ("problem", Arc::new(problem)),
        ("google", Arc::new(Google::new())),
    ]
}

/// The message of a rendered error in any built-in format: the error the envelope itself puts
/// in the extensions is gone once rendered, so the body is parsed back.
fn rendered_message(format: &dyn Format, reply: &Reply) -> String {
    let ct = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let error = format
        .parse(reply.status, ct, &reply.body)
        .unwrap_or_else(|| panic!("not a rendered error: {}", reply.text()));
    error.message().to_owned()
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

// ---- 1. the token never leaks -------------------------------------------------------------------

const TOKEN: &str = "tEsT-sEcReT-7c1f0a9e4b2d8c3a6f5e";

/// A token `TOKEN` with its last byte changed.
fn last_byte_changed() -> String {
    let mut t = TOKEN.to_owned();
    t.pop();
    t.push('X');
    t
}

/// Distinctive pieces of `TOKEN` that must not appear either.
fn token_pieces() -> Vec<&'static str> {
    vec![TOKEN, &TOKEN[..16], &TOKEN[12..], "7c1f0a9e4b2d"]
}

#[derive(Clone, Copy, Debug)]
enum Scheme3 {
    Bearer,
    Tok,
    Sec,
}

impl Scheme3 {
    fn scheme(self) -> Scheme {
        match self {
            Scheme3::Bearer => Scheme::bearer(),
            Scheme3::Tok => Scheme::tok(),
            Scheme3::Sec => Scheme::header("SEC"),
        }
    }

    fn header(self) -> HeaderName {
        match self {
            Scheme3::Sec => HeaderName::from_static("sec"),
            _ => AUTHORIZATION,
        }
    }

    /// The well-formed credentials for `token`.
    fn value(self, token: &str) -> String {
        match self {
            Scheme3::Bearer => format!("Bearer {token}"),
            Scheme3::Tok => format!("TOK:{token}"),
            Scheme3::Sec => token.to_owned(),
        }
    }
}

/// What the validator knows.
#[derive(Clone, Copy, Debug)]
enum Store {
    /// `TOKEN`, with scope `read` (GET requires `read`).
    Known,
    /// `TOKEN`, expired.
    Expired,
    /// `TOKEN`, but GET requires the scope `admin`.
    Scope,
    /// Another token only.
    Other,
}

fn layer(scheme: Scheme3, store: Store) -> AuthTokenLayer {
    let tokens = match store {
        Store::Known | Store::Scope => StaticTokens::new().token(TOKEN, ["read"]),
        Store::Expired => {
            StaticTokens::new().token_expiring_at(TOKEN, ["read"], SystemTime::UNIX_EPOCH)
        }
        Store::Other => StaticTokens::new().token("some-other-token", ["read"]),
    };
    let scope = if matches!(store, Store::Scope) {
        "admin"
    } else {
        "read"
    };
    AuthTokenLayer::new(scheme.scheme(), tokens).require_scope(Method::GET, scope)
}

/// The headers of a request, as raw bytes.
type RawHeaders = Vec<(HeaderName, Vec<u8>)>;

/// Every way a request carrying `TOKEN` (or a near miss) fails, for one scheme: a label, what
/// the validator knows, and the request's headers.
fn auth_failures(scheme: Scheme3) -> Vec<(String, Store, RawHeaders)> {
    let h = scheme.header();
    let v = |s: String| s.into_bytes();
    let mut cases: Vec<(&str, Store, RawHeaders)> = vec![
        // Missing: the token travels in other headers only.
        (
            "missing",
            Store::Known,
            vec![
                (COOKIE, v(format!("session={TOKEN}"))),
                (HeaderName::from_static("x-api-key"), v(TOKEN.to_owned())),
            ],
        ),
        (
            "quoted value",
            Store::Known,
            vec![(h.clone(), v(format!("\"{}\"", scheme.value(TOKEN))))],
        ),
        (
            "quoted token",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&format!("\"{TOKEN}\""))))],
        ),
        (
            "single-quoted token",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&format!("'{TOKEN}'"))))],
        ),
        (
            "trailing space",
            Store::Known,
            vec![(h.clone(), v(format!("{} ", scheme.value(TOKEN))))],
        ),
        (
            "leading space",
            Store::Known,
            vec![(h.clone(), v(format!(" {}", scheme.value(TOKEN))))],
        ),
        (
            "tab",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&format!("{TOKEN}\t"))))],
        ),
        (
            "token twice",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&format!("{TOKEN} {TOKEN}"))))],
        ),
        (
            "obs-text",
            Store::Known,
            vec![(h.clone(), {
                let mut b = v(scheme.value(TOKEN));
                b.extend_from_slice(b"\xc2\x85\xff");
                b
            })],
        ),
        (
            "several headers",
            Store::Known,
            vec![
                (h.clone(), v(scheme.value(TOKEN))),
                (h.clone(), v(scheme.value(TOKEN))),
            ],
        ),
        (
            "unknown: last byte",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&last_byte_changed())))],
        ),
        (
            "unknown: longer",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&format!("{TOKEN}0"))))],
        ),
        (
            "unknown: shorter",
            Store::Known,
            vec![(h.clone(), v(scheme.value(&TOKEN[..TOKEN.len() - 1])))],
        ),
        (
            "unknown: not stored",
            Store::Other,
            vec![(h.clone(), v(scheme.value(TOKEN)))],
        ),
        (
            "expired",
            Store::Expired,
            vec![(h.clone(), v(scheme.value(TOKEN)))],
        ),
        (
            "scope",
            Store::Scope,
            vec![(h.clone(), v(scheme.value(TOKEN)))],
        ),
    ];
    match scheme {
        Scheme3::Bearer => {
            cases.push((
                "wrong scheme: Basic",
                Store::Known,
                vec![(h.clone(), v(format!("Basic {TOKEN}")))],
            ));
            cases.push((
                "wrong scheme: TOK",
                Store::Known,
                vec![(h.clone(), v(format!("TOK:{TOKEN}")))],
            ));
            cases.push((
                "no scheme",
                Store::Known,
                vec![(h.clone(), v(TOKEN.to_owned()))],
            ));
        }
        Scheme3::Tok => {
            cases.push((
                "wrong scheme: Bearer",
                Store::Known,
                vec![(h.clone(), v(format!("Bearer {TOKEN}")))],
            ));
            cases.push((
                "no scheme",
                Store::Known,
                vec![(h.clone(), v(TOKEN.to_owned()))],
            ));
        }
        Scheme3::Sec => {
            cases.push((
                "wrong scheme: Bearer",
                Store::Known,
                vec![(h.clone(), v(format!("Bearer {TOKEN}")))],
            ));
            // The token in `Authorization`, where this scheme does not look.
            cases.push((
                "wrong header",
                Store::Known,
                vec![(AUTHORIZATION, v(format!("Bearer {TOKEN}")))],
            ));
        }
    }
    cases
        .into_iter()
        .map(|(label, store, headers)| (label.to_owned(), store, headers))
        .collect()
}

fn auth_request(headers: &[(HeaderName, Vec<u8>)], accept_xml: bool) -> Request<Full<Bytes>> {
    let mut request = Request::get(format!("/api/machines?token={TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .append(name.clone(), HeaderValue::from_bytes(value).unwrap());
    }
    if accept_xml {
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/xml"));
    }
    request
}

/// Sends `request` through `auth` under the named envelope (or none).
fn through(envelope: &str, auth: AuthTokenLayer, request: Request<Full<Bytes>>) -> Reply {
    let service = auth.layer(ok_service());
    let response = match envelope {
        "none" => return Reply::read(drive(service.oneshot(request)).unwrap()),
        "defender" => drive(
            ErrorEnvelopeLayer::defender()
                .layer(service)
                .oneshot(request),
        ),
        "qradar" => drive(ErrorEnvelopeLayer::qradar().layer(service).oneshot(request)),
        "edgio" | "edgio-xml" => drive(ErrorEnvelopeLayer::edgio().layer(service).oneshot(request)),
        "problem" => drive(
            ErrorEnvelopeLayer::new(Problem::new().with_instance())
                .layer(service)
                .oneshot(request),
        ),
        other => panic!("no envelope {other}"),
    };
    Reply::read(response.unwrap())
}

/// A `tracing` writer that keeps everything written in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn the_token_never_appears_in_a_response_or_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // The capture works, at TRACE level.
    tracing::trace!("capture check");

    let mut checked = 0;
    for scheme in [Scheme3::Bearer, Scheme3::Tok, Scheme3::Sec] {
        // The well-formed token passes: the failures below are failures of the token alone.
        let pass = through(
            "none",
            layer(scheme, Store::Known),
            auth_request(
                &[(scheme.header(), scheme.value(TOKEN).into_bytes())],
                false,
            ),
        );
        assert_eq!(pass.status, StatusCode::OK, "{scheme:?}: {}", pass.text());

        for (label, store, headers) in auth_failures(scheme) {
            for envelope in [
                "none",
                "defender",
                "qradar",
                "edgio",
                "edgio-xml",
                "problem",
            ] {
                let request = auth_request(&headers, envelope == "edgio-xml");
                let reply = through(envelope, layer(scheme, store), request);
                let context = format!("{scheme:?} / {label} / {envelope}");
                assert!(
                    matches!(reply.status.as_u16(), 401 | 403),
                    "{context}: {} {}",
                    reply.status,
                    reply.text()
                );
                for piece in token_pieces() {
                    reply.assert_absent(piece, &context);
                }
                reply.assert_absent(&last_byte_changed(), &context);
                if envelope == "edgio-xml" {
                    assert!(reply.text().starts_with("<Error"), "{context}");
                }
                checked += 1;
            }
        }
    }
    // 19 Bearer cases, 18 TOK and 18 SEC cases, under 6 envelopes (or none).
    assert_eq!(checked, (19 + 18 + 18) * 6);

    let log = captured.text();
    assert!(log.contains("capture check"), "{log}");
    for piece in token_pieces() {
        assert!(!log.contains(piece), "the log holds {piece:?}:\n{log}");
    }
}

// ---- 2. constant time, seen from outside ------------------------------------------------------------

/// A token differing from the stored one only in its last byte, or only in its length, is
/// refused exactly like any unknown token: same validator result, and through the layer (under
/// an envelope, with a fixed request id) byte-identical responses. (The unit-level test of the
/// digest comparison is `auth::validator::constant_time` in the crate.)
#[test]
fn near_miss_tokens_are_refused_exactly_like_any_unknown_token() {
    let tokens = StaticTokens::new()
        .token(TOKEN, ["read"])
        .token("another-stored-token", ["read"]);
    let misses = [
        last_byte_changed(),
        format!("{TOKEN}0"),
        TOKEN[..TOKEN.len() - 1].to_owned(),
        "z".repeat(TOKEN.len()),
        "completely-different".to_owned(),
    ];
    for miss in &misses {
        assert_eq!(tokens.validate(miss), Err(TokenError::Unknown), "{miss}");
    }
    assert!(tokens.validate(TOKEN).is_ok());

    let replies: Vec<Reply> = misses
        .iter()
        .map(|miss| {
            let service = ErrorEnvelopeLayer::defender()
                .layer(AuthTokenLayer::bearer(tokens.clone()).layer(ok_service::<Full<Bytes>>()));
            let request = Request::get("/")
                .header(AUTHORIZATION, format!("Bearer {miss}"))
                .header(REQUEST_ID_HEADER, "fixed-id")
                .body(Full::new(Bytes::new()))
                .unwrap();
            Reply::read(drive(service.oneshot(request)).unwrap())
        })
        .collect();
    for reply in &replies[1..] {
        assert_eq!(reply.status, replies[0].status);
        assert_eq!(reply.headers, replies[0].headers);
        assert_eq!(reply.body, replies[0].body);
    }
    assert_eq!(replies[0].status, StatusCode::UNAUTHORIZED);
}

// ---- 3. echoed input is bounded and clean -------------------------------------------------------------

/// The message of a rejection, checked: no control character, at most `MAX_MESSAGE_LEN` bytes,
/// and no run of `MAX_ECHO_LEN + 1` characters of `long` (the long part of the input).
fn assert_clean_message(message: &str, long: &str, context: &str) {
    assert!(
        !message.chars().any(char::is_control),
        "{context}: control character in {message:?}"
    );
    assert!(message.len() <= MAX_MESSAGE_LEN, "{context}: {message:?}");
    if long.len() > MAX_ECHO_LEN {
        let window: String = long.chars().take(MAX_ECHO_LEN + 1).collect();
        assert!(
            !message.contains(&window),
            "{context}: more than {MAX_ECHO_LEN} bytes of input echoed: {message:?}"
        );
    }
}

/// Sends `request` to the validator service `alone` (its tagged error) and under every
/// format's envelope (the rendered message), and checks both messages and every header.
fn assert_echo_is_clean<S, B>(alone: S, request: impl Fn() -> Request<Full<Bytes>>, long: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
    B: Body<Data = Bytes>,
{
    let reply = Reply::read(drive(alone.clone().oneshot(request())).unwrap());
    let context = format!("{} {}", request().method(), request().uri());
    let error = reply
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("{context}: not rejected: {}", reply.status));
    assert_clean_message(error.message(), long, &context);
    for (name, format) in formats(false) {
        let service = ErrorEnvelopeLayer::new(format.clone()).layer(alone.clone());
        let reply = Reply::read(drive(service.oneshot(request())).unwrap());
        assert!(reply.status.as_u16() >= 400, "{context} / {name}");
        let message = rendered_message(&*format, &reply);
        assert_clean_message(&message, long, &format!("{context} / {name}"));
        assert!(
            !reply.text().chars().any(char::is_control),
            "{context} / {name}: {}",
            reply.text()
        );
    }
}

#[test]
fn url_messages_echo_a_short_clean_sequence() {
    let long = "a".repeat(5000);
    let uris: Vec<Vec<u8>> = vec![
        format!("/{long}/%zz").into_bytes(),
        format!("/x/%zz{long}").into_bytes(),
        // Raw bytes `http::Uri` lets through: a C1 control (U+0085), U+2028 and a bidi override
        // in UTF-8, an encoded NUL, encoded CR LF, a long run of non-ASCII before a `{`.
        // (`http::Uri` refuses bytes that are not UTF-8.)
        b"/x\xc2\x85y".to_vec(),
        b"/x\xe2\x80\xa8y".to_vec(),
        b"/x\xe2\x80\xaey".to_vec(),
        b"/x%00y".to_vec(),
        b"/x%0d%0aSet-Cookie:%20a=b".to_vec(),
        format!("/{}{{", "\u{e9}".repeat(2000)).into_bytes(),
        format!("/ok?q={long}{{x}}").into_bytes(),
    ];
    for raw in uris {
        let uri = Uri::from_maybe_shared(Bytes::from(raw.clone()))
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&raw)));
        let request = move || {
            Request::get(uri.clone())
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let service = UrlEncodingLayer::new().layer(ok_service::<Full<Bytes>>());
        assert_echo_is_clean(service, request, &long);
    }
}

#[test]
fn problem_instance_echoes_a_bounded_clean_path() {
    // `instance` is the raw path: `/x\u{85}y` is rendered with the C1 control U+0085 as is, and a
    // 5000-byte path is rendered whole.
    let long = "a".repeat(5000);
    let mut failures = Vec::new();
    for raw in [
        b"/x\xc2\x85y%zz".to_vec(),
        format!("/{long}/%zz").into_bytes(),
    ] {
        let uri = Uri::from_maybe_shared(Bytes::from(raw)).unwrap();
        let service = ErrorEnvelopeLayer::new(Problem::new().with_instance())
            .layer(UrlEncodingLayer::new().layer(ok_service::<Full<Bytes>>()));
        let request = Request::get(uri).body(Full::new(Bytes::new())).unwrap();
        let reply = Reply::read(drive(service.oneshot(request)).unwrap());
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let instance = body["instance"].as_str().unwrap_or_default().to_owned();
        if instance.chars().any(char::is_control) || instance.len() > MAX_MESSAGE_LEN {
            failures.push(format!(
                "instance {:?} ({} bytes)",
                instance.chars().take(40).collect::<String>(),
                instance.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn content_type_and_accept_messages_echo_a_short_clean_value() {
    let long = "A".repeat(5000);
    let post = |ct: Vec<u8>| {
        move || {
            Request::post("/")
                .header(CONTENT_TYPE, HeaderValue::from_bytes(&ct).unwrap())
                .header(CONTENT_LENGTH, 2)
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap()
        }
    };
    let values: Vec<Vec<u8>> = vec![
        // Not supported: the message names the received type.
        format!("text/plain; x={long}").into_bytes(),
        format!("text/{long}").into_bytes(),
        // JSON in another charset.
        format!("application/json; charset={long}").into_bytes(),
        // Not a media type: obs-text that decodes to a C1 control (U+0085, U+009B), a tab.
        b"application/x\xc2\x85\xc2\x9b\tjson".to_vec(),
        b"text/plain;\tx=\xc2\x85".to_vec(),
        [b"\xff\xfe".as_slice(), long.as_bytes()].concat(),
    ];
    for ct in values {
        let service = ContentTypeLayer::json().layer(ok_service::<RequestBody<Full<Bytes>>>());
        assert_echo_is_clean(service, post(ct), &long);
    }

    // Accept: the 406 message names what the client accepts.
    let accepting = ContentTypeLayer::json()
        .accept_header(["application/json"])
        .unwrap();
    let get = |accept: Vec<u8>| {
        move || {
            Request::get("/")
                .header(ACCEPT, HeaderValue::from_bytes(&accept).unwrap())
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
    };
    let long_list = "x/y, ".repeat(1000);
    for accept in [
        format!("text/html, {long_list}").into_bytes(),
        b"text/html;\tq=1,\ttext/plain;q=0.5".to_vec(),
    ] {
        let service = accepting
            .clone()
            .layer(ok_service::<RequestBody<Full<Bytes>>>());
        assert_echo_is_clean(service, get(accept), &long_list);
    }
}

#[test]
fn a_malformed_content_length_is_echoed_short_and_clean() {
    let long = "9".repeat(5000);
    for value in [
        format!("12a{long}").into_bytes(),
        b"12\xc2\x85".to_vec(),
        b"1\t2".to_vec(),
    ] {
        let request = move || {
            Request::post("/")
                .header(CONTENT_LENGTH, HeaderValue::from_bytes(&value).unwrap())
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap()
        };
        let service = BodyLimitLayer::new(64).layer(ok_service::<Limited<Full<Bytes>>>());
        assert_echo_is_clean(service, request, &long);
    }
}

/// A request id that is not 1–128 visible ASCII characters never reaches a response: the
/// envelope answers with a fresh UUID. (CR, LF and NUL cannot be put into an `http` header
/// value at all; they are sent over the wire in `request_ids_with_cr_lf_nul_over_the_wire`.)
#[test]
fn a_malformed_request_id_is_replaced_by_a_uuid() {
    let too_long = "a".repeat(129);
    let bad: Vec<&[u8]> = vec![
        b"",
        b"ab cd",
        b"ab\tcd",
        b"ab\xc2\x85cd",
        b"\xff",
        too_long.as_bytes(),
    ];
    for value in bad {
        let reply = rejected_with_request_id(value);
        let id = reply.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert!(is_uuid(id), "{:?} -> {id}", String::from_utf8_lossy(value));
        assert!(
            reply.text().contains(id),
            "the body names the same id: {}",
            reply.text()
        );
    }
    let max = "a".repeat(128);
    for good in ["req-1", max.as_str(), "!~{}"] {
        let reply = rejected_with_request_id(good.as_bytes());
        assert_eq!(reply.headers[REQUEST_ID_HEADER], good);
    }
    // Exactly visible ASCII is kept, of every byte a header value may hold (CR, LF and NUL
    // cannot be in one: the request never gets this far).
    for b in 0..=255u8 {
        let value = [b'a', b, b'c'];
        if HeaderValue::from_bytes(&value).is_err() {
            assert!(b < 0x20 || b == 0x7f, "byte {b:#04x}");
            continue;
        }
        let reply = rejected_with_request_id(&value);
        let kept = reply.headers[REQUEST_ID_HEADER].as_bytes() == value;
        assert_eq!(kept, (0x21..=0x7e).contains(&b), "byte {b:#04x}");
    }
}

fn rejected_with_request_id(value: &[u8]) -> Reply {
    let service = ErrorEnvelopeLayer::defender()
        .layer(UrlEncodingLayer::new().layer(ok_service::<Full<Bytes>>()));
    let request = Request::get("/%zz")
        .header(REQUEST_ID_HEADER, HeaderValue::from_bytes(value).unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = Reply::read(drive(service.oneshot(request)).unwrap());
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    reply
}

/// Over a real HTTP/1 connection, request ids holding CR, LF, NUL or other control bytes never
/// reach a response header: hyper refuses the request, or the envelope answers with a UUID; and
/// no header line of the raw response is split or injected.
#[tokio::test]
async fn request_ids_with_cr_lf_nul_over_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = ErrorEnvelopeLayer::defender()
                .layer(UrlEncodingLayer::new().layer(ok_service::<hyper::body::Incoming>()));
            let service = hyper_util::service::TowerToHyperService::new(service);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(io, service)
                    .await;
            });
        }
    });

    let ids: Vec<&[u8]> = vec![
        b"abc\rdef",
        b"abc\0def",
        b"abc\x01def",
        b"abc\x7fdef",
        b"abc\r\nInjected: yes",
        b"abc\nInjected: yes",
        b"abc\xc2\x85def",
        b"abc def",
    ];
    for id in ids {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request =
            b"GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: ".to_vec();
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\n\r\n");
        stream.write_all(&request).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let context = format!("id {:?}:\n{text}", String::from_utf8_lossy(id));
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 4"), "{context}");
        for line in head.split("\r\n").skip(1) {
            assert!(
                !line.contains('\r') && !line.contains('\n') && !line.contains('\0'),
                "{context}"
            );
            assert!(
                line.contains(": "),
                "a header line without a name: {context}"
            );
            let (name, value) = line.split_once(": ").unwrap();
            assert!(!name.eq_ignore_ascii_case("injected"), "{context}");
            if name.eq_ignore_ascii_case(REQUEST_ID_HEADER) {
                // Either hyper kept the request from the service, or the id is a fresh UUID
                // (or, for `abc\r\nInjected: yes`, the valid id `abc` of a well-formed request).
                assert!(is_uuid(value) || value == "abc", "{context}");
            }
        }
    }
    server.abort();
}

// ---- 4. a 5xx never carries inner text -------------------------------------------------------------

const SECRET: &str = "db-password-hunter2-at-10.1.2.3";

/// Text a 5xx must never carry besides the secret itself: panic and backtrace markers.
const LEAK_MARKERS: &[&str] = &["panicked", "backtrace", ".rs:", "hunter2", "10.1.2.3"];

/// A body that panics with the secret when polled.
struct PanickingBody;

impl Body for PanickingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        panic!("{SECRET}");
    }
}

type InnerBody = http_body_util::Either<Full<Bytes>, PanickingBody>;
type Failing = tower::util::BoxCloneService<Request<Full<Bytes>>, Response<InnerBody>, BoxError>;

/// The inner failures: each a fresh service, boxed.
fn failing_services() -> Vec<(&'static str, Failing)> {
    fn boxed<S>(s: S) -> Failing
    where
        S: Service<Request<Full<Bytes>>, Response = Response<InnerBody>, Error = BoxError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        tower::util::BoxCloneService::new(s)
    }
    let text = |status: u16, ct: Option<&'static str>, body: String| {
        boxed(service_fn(move |_req: Request<Full<Bytes>>| {
            let mut r = Response::new(InnerBody::Left(Full::new(Bytes::from(body.clone()))));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            if let Some(ct) = ct {
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            async move { Ok::<_, BoxError>(r) }
        }))
    };
    vec![
        (
            "Err(io::Error)",
            boxed(service_fn(|_req: Request<Full<Bytes>>| async {
                Err::<Response<InnerBody>, BoxError>(Box::new(io::Error::other(SECRET)))
            })),
        ),
        (
            "Err(wrapped io::Error)",
            boxed(service_fn(|_req: Request<Full<Bytes>>| async {
                let inner = io::Error::other(SECRET);
                Err::<Response<InnerBody>, BoxError>(Box::new(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    inner,
                )))
            })),
        ),
        ("bare 500, text", text(500, Some("text/plain"), SECRET.to_owned())),
        ("bare 500, untyped", text(500, None, format!("error: {SECRET}"))),
        (
            "bare 502, JSON",
            text(502, Some("application/json"), format!("{{\"message\":\"{SECRET}\"}}")),
        ),
        ("bare 503, text", text(503, Some("text/plain; charset=utf-8"), SECRET.to_owned())),
        ("bare 599, text", text(599, Some("text/plain"), SECRET.to_owned())),
        (
            "panic in the future",
            boxed(service_fn(|_req: Request<Full<Bytes>>| async {
                if SECRET.len() > 1 {
                    panic!("{SECRET}");
                }
                Ok::<Response<InnerBody>, BoxError>(Response::new(InnerBody::Left(Full::default())))
            })),
        ),
        (
            "panic in call",
            boxed(service_fn(
                |_req: Request<Full<Bytes>>| -> std::future::Ready<Result<Response<InnerBody>, BoxError>> {
                    panic!("{SECRET}")
                },
            )),
        ),
        (
            "panic in the error body",
            boxed(service_fn(|_req: Request<Full<Bytes>>| async {
                let mut r = Response::new(InnerBody::Right(PanickingBody));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                Ok::<_, BoxError>(r)
            })),
        ),
    ]
}

#[test]
fn a_5xx_never_carries_inner_error_text_panics_or_backtraces() {
    let mut checked = 0;
    for (format_name, format) in formats(true) {
        for grpc in [false, true] {
            for (case, inner) in failing_services() {
                let service = ErrorEnvelopeLayer::new(format.clone())
                    .catch_panic()
                    .layer(inner);
                let mut request = Request::post("/api/x")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                if grpc {
                    request
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                }
                let reply = Reply::read(drive(service.oneshot(request)).unwrap());
                let context = format!("{format_name} / grpc={grpc} / {case}");
                if grpc {
                    assert_eq!(reply.status, StatusCode::OK, "{context}");
                    let code = reply.headers["grpc-status"].to_str().unwrap();
                    assert!(
                        ["13", "14"].contains(&code),
                        "{context}: grpc-status {code}"
                    );
                    assert!(reply.body.is_empty(), "{context}");
                } else {
                    assert!(
                        reply.status.is_server_error(),
                        "{context}: {}",
                        reply.status
                    );
                    let message = rendered_message(&*format, &reply);
                    assert!(!message.contains(SECRET), "{context}: {message}");
                }
                for marker in LEAK_MARKERS.iter().chain([&SECRET]) {
                    reply.assert_absent(marker, &context);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 10);
}

#[test]
fn a_5xx_vendor_envelope_does_not_carry_its_message() {
    // An inner 500 whose body is a vendor error (as an upstream or a handler may send) is
    // translated by kind and code only: its free text (message, QRadar's description, target,
    // violation messages) never reaches the client, in any format or in `grpc-message`.
    let secret_error = ApiError::new(tower_envelope::ErrorKind::Internal, SECRET)
        .with_description(SECRET)
        .with_target(SECRET)
        .with_violation(tower_envelope::FieldViolation::new(["body", "x"], SECRET));
    let cx = tower_envelope::format::RequestContext::new("upstream-id", &Method::GET);
    let upstreams = [
        Defender.render(&secret_error, &cx),
        QRadar::new().render(&secret_error, &cx),
    ];
    let mut leaks = Vec::new();
    for upstream in &upstreams {
        for (name, format) in formats(false) {
            for grpc in [false, true] {
                let (ct, body) = (upstream.content_type.clone(), upstream.body.clone());
                let inner = service_fn(move |_req: Request<Full<Bytes>>| {
                    let mut r = Response::new(Full::new(Bytes::from(body.clone())));
                    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    r.headers_mut().insert(CONTENT_TYPE, ct.clone());
                    async move { Ok::<_, Infallible>(r) }
                });
                let service = ErrorEnvelopeLayer::new(format.clone()).layer(inner);
                let mut request = Request::new(Full::new(Bytes::new()));
                if grpc {
                    // gRPC calls are POSTs.
                    *request.method_mut() = Method::POST;
                    request
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                }
                let reply = Reply::read(drive(service.oneshot(request)).unwrap());
                assert_eq!(reply.head().contains("grpc-status"), grpc, "{name}");
                if reply.text().contains(SECRET) || reply.head().contains(SECRET) {
                    leaks.push(format!(
                        "{name} grpc={grpc}: {}{}",
                        reply.head(),
                        reply.text()
                    ));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

// ---- 5. a 100 MB error body is never buffered ---------------------------------------------------------

const HUNDRED_MB: usize = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// 100 MB of text, made one 64 KiB chunk at a time as it is polled (never whole), counting the
/// bytes pulled out and noting its drop.
struct Lazy {
    left: usize,
    pulled: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Body for Lazy {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK);
        self.left -= n;
        self.pulled.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left as u64)
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_100_mb_error_body_is_not_buffered() {
    // The counter sees what it must: holding 8 MiB shows as at least 8 MiB.
    let (held, _) = peak_during(|| std::hint::black_box(vec![1u8; 8 << 20]).len());
    assert!(held >= 8 << 20, "{held}");

    let mut worst = 0;
    for (status, content_type, declared, bound) in [
        (500, Some("text/plain"), false, None),
        (400, Some("text/plain"), false, None),
        (502, None, false, None),
        (422, Some("application/json"), false, Some(256 * 1024)),
        (503, Some("application/problem+json"), false, Some(0)),
        (500, Some("text/plain"), true, None),
        (413, Some("application/octet-stream"), false, None),
    ] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicBool::new(false));
        let body = Lazy {
            left: HUNDRED_MB,
            pulled: pulled.clone(),
            dropped: dropped.clone(),
        };
        let slot = Mutex::new(Some(body));
        let inner = service_fn(move |_req: Request<Full<Bytes>>| {
            let mut r = Response::new(slot.lock().unwrap().take().expect("called once"));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            if let Some(ct) = content_type {
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            if declared {
                r.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(HUNDRED_MB));
            }
            async move { Ok::<_, Infallible>(r) }
        });
        let layer = match bound {
            Some(b) => ErrorEnvelopeLayer::defender().max_error_body(b),
            None => ErrorEnvelopeLayer::defender(),
        };
        let bound = bound.unwrap_or(tower_envelope::envelope::DEFAULT_MAX_ERROR_BODY);
        let service = layer.layer(inner);
        let (peak, reply) = peak_during(|| {
            let response = drive(service.oneshot(Request::new(Full::new(Bytes::new())))).unwrap();
            Reply::read(response)
        });
        let context = format!("{status} {content_type:?} declared={declared} bound={bound}");
        let pulled = pulled.load(Ordering::SeqCst);
        println!("{context}: pulled {pulled} bytes, peak {peak} bytes above the baseline");
        assert_eq!(reply.status.as_u16(), status, "{context}");
        let error = Defender
            .parse(reply.status, None, &reply.body)
            .unwrap_or_else(|| panic!("{context}: not a Defender error: {}", reply.text()));
        assert_eq!(error.status().as_u16(), status, "{context}");
        assert!(pulled <= bound + CHUNK, "{context}: pulled {pulled}");
        if declared || content_type == Some("application/octet-stream") {
            assert_eq!(pulled, 0, "{context}");
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "{context}: the body is still held"
        );
        assert!(peak < 4 << 20, "{context}: peak {peak} bytes");
        worst = worst.max(peak);
    }
    println!(
        "worst peak: {worst} bytes ({:.1} KiB)",
        worst as f64 / 1024.0
    );
}
