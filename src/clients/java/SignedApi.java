/*
 * Signed-request client for protocol v1 (protocol-v1.md) on the JVM: one file, JDK 17 only
 * (java.net.http for HTTP, javax.crypto for HMAC-SHA256), no dependencies. Copy it into a
 * project, or run it as a small command line with the source launcher:
 *
 *   java SignedApi.java signup|login USERNAME       password from $SIGNED_API_PASSWORD; login prints export lines
 *   java SignedApi.java request METHOD TARGET [JSON | @FILE]   body on stdout, "HTTP <status>" on stderr
 *   java SignedApi.java vectors < cases.json        signs a JSON array of vector fields, prints canonical hex and signature
 *   env: SIGNED_API_URL (default https://127.0.0.1:8443), SIGNED_API_CA (a PEM to trust, e.g. var/dev-cert.pem),
 *        SIGNED_API_USERNAME, SIGNED_API_KEY_ID, SIGNED_API_KEY (printed by login)
 *   exit codes: 0 a 2xx answer, 1 the server refused (4xx or 5xx), 2 bad arguments, 3 the server could not be reached
 *
 * As a library:
 *
 *   SignedApi api = new SignedApi("https://127.0.0.1:8443").trust(Path.of("var/dev-cert.pem"));
 *   api.login("alice", "correct horse battery staple");
 *   SignedApi.Response who = api.request("GET", "/auth/whoami");
 *   SignedApi.Response note = api.request("POST", "/v1/notes", Map.of("title", "Hi", "body", "from the JVM"));
 *
 * The client keeps the protocol's client duties: X-Microtime is max(now + offset, last + 1) per key,
 * so two requests never share a signature and every retry is signed again; on AUTH_STALE the offset
 * is learned from X-Server-Time and the request signed again once; on AUTH_REPLAY an idempotent
 * request is signed again once (a POST never is); a user key is refreshed before its expiresAt.
 * Any answer comes back as a Response (the server's code in code(); needsLogin() after
 * AUTH_KEY_EXPIRED or AUTH_KEY_REVOKED); only a failed connection throws (IOException).
 *
 * The HMAC key is the UTF-8 bytes of the key string exactly as received: never base64-decoded.
 * The key is never put in a log line, a URL, an exception or toString().
 *
 * Android has no java.net.http: there, keep canonical(), signature() and the client, and pass a
 * Transport built on the platform's HTTP stack to transport(...). The default transport's class
 * is only loaded when no other is set.
 */
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public final class SignedApi {

  // ---- the signer: pure, no clock, no I/O --------------------------------------------------

  public static final String TAG = "HMAC-SHA256-V1";
  private static final Pattern USERNAME = Pattern.compile("[A-Za-z0-9._:@-]{1,64}");
  private static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9._~:-]{1,200}");
  private static final Pattern TIME = Pattern.compile("[0-9]{1,16}");
  private static final Pattern METHOD = Pattern.compile("[A-Z]{1,20}");
  private static final Set<String> IDEMPOTENT = Set.of("GET", "HEAD", "PUT", "DELETE", "OPTIONS");

  /** The exact bytes signed: six lines, an LF after each, then the raw body bytes. */
  public static byte[] canonical(String username, String keyId, String time, String method, String target, byte[] body) {
    byte[] head = String.join("\n", TAG, username, keyId, time, method, target).concat("\n").getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[head.length + body.length];
    System.arraycopy(head, 0, out, 0, head.length);
    System.arraycopy(body, 0, out, head.length, body.length);
    return out;
  }

  /** Lowercase hex HMAC-SHA256 of the canonical bytes, keyed with the UTF-8 bytes of the key string. */
  public static String signature(String key, byte[] canonical) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return hex(mac.doFinal(canonical));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM has no HmacSHA256", e);
    }
  }

  /** Why the target cannot be sent as signed (origin form, bytes 0x21..0x7E), or null. */
  public static String targetProblem(String target) {
    if (target.matches("(?i)^[a-z][a-z0-9+.-]*://.*")) return "the request target is a path such as /v1/notes?limit=10, not a URL: put the scheme and host in the base URL";
    if (!target.startsWith("/")) return "the request target must start with \"/\"";
    for (int i = 0; i < target.length(); i++) {
      char c = target.charAt(i);
      if (c < 0x21 || c > 0x7e) return "the request target may hold only bytes 0x21..0x7E: percent-encode spaces and non-ASCII (the server answers BAD_REQUEST_TARGET)";
    }
    return null;
  }

  /** The four auth headers for one request; throws IllegalArgumentException when a field cannot be sent as is. */
  public static Map<String, String> sign(Credentials creds, long time, String method, String target, byte[] body) {
    String t = Long.toString(time);
    String problem = !USERNAME.matcher(creds.username()).matches() ? "Auth-Username must be 1..64 chars of [A-Za-z0-9._:@-]"
        : !KEY_ID.matcher(creds.keyId()).matches() ? "Auth-Key-Id must be 1..200 chars of [A-Za-z0-9._~:-]"
        : !TIME.matcher(t).matches() ? "X-Microtime must be Unix milliseconds, 1..16 digits"
        : !METHOD.matcher(method).matches() ? "the method must be an upper-case token such as GET or POST"
        : targetProblem(target);
    if (problem != null) throw new IllegalArgumentException(problem);
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Auth-Username", creds.username());
    headers.put("Auth-Key-Id", creds.keyId());
    headers.put("X-Microtime", t);
    headers.put("Auth-Signature", signature(creds.signingKey(), canonical(creds.username(), creds.keyId(), t, method, target, body)));
    return headers;
  }

  // ---- types -----------------------------------------------------------------------------

  /** A key from login, refresh or client registration. expiresAt is ISO 8601, or null for client keys. */
  public record Credentials(String username, String keyId, String signingKey, String expiresAt) {
    public Credentials {
      if (username == null || keyId == null || signingKey == null || signingKey.isEmpty()) throw new IllegalArgumentException("credentials need a username, a key id and a signing key");
      if (expiresAt != null) Instant.parse(expiresAt); // fails early on a garbled time
    }
    /** A client key (app:<id>, service:<id>): no expiry, never refreshed. */
    public Credentials(String principal, String keyId, String secret) { this(principal, keyId, secret, null); }
    @Override public String toString() { return "Credentials[username=" + username + ", keyId=" + keyId + ", expiresAt=" + expiresAt + "]"; }
  }

  /** One answer, whatever its status. Header names are lower case. */
  public record Response(int status, Map<String, List<String>> headers, byte[] body) {
    public boolean ok() { return status >= 200 && status < 300; }
    public String header(String name) {
      List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
      return v == null || v.isEmpty() ? null : v.get(0);
    }
    public String text() { return new String(body, StandardCharsets.UTF_8); }
    /** The parsed JSON answer (Map, List, String, Double, Boolean or null), or null when there is none. */
    public Object json() {
      String type = header("content-type");
      if (body.length == 0 || type == null || !type.toLowerCase(Locale.ROOT).contains("json")) return null;
      try { return Json.parse(text()); } catch (IllegalArgumentException e) { return null; }
    }
    /** The server's stable error code: from the JSON body, else from WWW-Authenticate (a HEAD has no body); null on success. */
    public String code() {
      if (ok()) return null;
      if (json() instanceof Map<?, ?> m && m.get("code") instanceof String c) return c;
      Matcher m = Pattern.compile("error=\"([A-Z_]+)\"").matcher(String.valueOf(header("www-authenticate")));
      return m.find() ? m.group(1) : "HTTP_" + status;
    }
    /** The key no longer works: log in again. */
    public boolean needsLogin() { return "AUTH_KEY_EXPIRED".equals(code()) || "AUTH_KEY_REVOKED".equals(code()); }
    @Override public String toString() { return "Response[" + status + (ok() ? "" : " " + code()) + "]"; }
  }

  /** Sends one request with the target on the request line exactly as given. */
  @FunctionalInterface
  public interface Transport {
    Response send(String method, String target, Map<String, String> headers, byte[] body) throws IOException;
  }

  // ---- the client ------------------------------------------------------------------------

  private final URI origin;
  private final String prefix;
  private final Object lock = new Object();
  private Transport transport;
  private SSLContext ssl;
  private LongSupplier clock = System::currentTimeMillis;
  private long refreshBeforeMs = 300_000;
  private Consumer<Credentials> onCredentials = c -> { };
  private Credentials creds;
  private long offsetMs;
  private final Map<String, Long> last = new HashMap<>();
  private boolean refreshExhausted;

  /** https://host:port, optionally with a path prefix (https://host/api) that is sent and signed before every target. */
  public SignedApi(String baseUrl) {
    URI u = URI.create(baseUrl);
    if (!"https".equals(u.getScheme()) && !"http".equals(u.getScheme())) throw new IllegalArgumentException("the base URL must be https:// (or http:// behind a TLS proxy)");
    if (u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null || u.getHost() == null) throw new IllegalArgumentException("the base URL is scheme://host[:port][/prefix], nothing more");
    origin = URI.create(u.getScheme() + "://" + u.getRawAuthority());
    prefix = u.getRawPath() == null ? "" : u.getRawPath().replaceAll("/+$", "");
  }

  /** Trust the certificates of this PEM file (e.g. $DATA_DIR/dev-cert.pem) instead of the system's. */
  public SignedApi trust(Path pemFile) throws IOException, GeneralSecurityException {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    Collection<? extends Certificate> certs;
    try (InputStream in = Files.newInputStream(pemFile)) {
      certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
    }
    if (certs.isEmpty()) throw new GeneralSecurityException(pemFile + " holds no certificate");
    int i = 0;
    for (Certificate c : certs) store.setCertificateEntry("ca" + i++, c);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    ssl = SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    transport = null;
    return this;
  }

  /** Replaces HTTP (tests, Android). */
  public SignedApi transport(Transport t) { transport = t; return this; }
  /** Unix ms; inject to test or to use another source. Default System.currentTimeMillis. */
  public SignedApi clock(LongSupplier c) { clock = c; return this; }
  /** Refresh a user key this long before its expiresAt (default 5 minutes). */
  public SignedApi refreshBeforeMs(long ms) { refreshBeforeMs = ms; return this; }
  /** Called whenever the key changes (login, refresh; null on logout), e.g. to store it. */
  public SignedApi onCredentials(Consumer<Credentials> c) { onCredentials = c; return this; }
  /** Sign with this key: a user key from an earlier login, or a client key. */
  public SignedApi credentials(Credentials c) { synchronized (lock) { creds = c; refreshExhausted = false; } return this; }
  public Credentials credentials() { synchronized (lock) { return creds; } }
  /** How far the server clock is ahead of this one, in ms, as learned from AUTH_STALE. */
  public long offsetMs() { synchronized (lock) { return offsetMs; } }

  /** POST /auth/signup (unsigned). */
  public Response signup(String username, String password) throws IOException {
    return send("POST", "/auth/signup", passwordBody(username, password), null);
  }

  /** POST /auth/login: on 200 the client signs with the new key from then on. */
  public Response login(String username, String password) throws IOException {
    Response res = send("POST", "/auth/login", passwordBody(username, password), null);
    if (res.status() == 200) {
      setCredentials(keyAnswer(res));
      synchronized (lock) { refreshExhausted = false; }
    }
    return res;
  }

  /** POST /auth/refresh: a fresh key of the same session (the previous one stays valid until its own expiry). */
  public Response refresh() throws IOException {
    Credentials c = userCredentials("refresh");
    Response res = send("POST", "/auth/refresh", new byte[0], c);
    if (res.status() == 200) {
      Credentials fresh = keyAnswer(res);
      synchronized (lock) {
        // Near the session's absolute limit a refresh cannot extend the key: stop asking on every request.
        refreshExhausted = c.expiresAt() != null && !Instant.parse(fresh.expiresAt()).isAfter(Instant.parse(c.expiresAt()));
      }
      setCredentials(fresh);
    }
    return res;
  }

  /** POST /auth/logout: every key of the session is revoked; the client forgets its key. */
  public Response logout() throws IOException {
    Response res = send("POST", "/auth/logout", new byte[0], userCredentials("logout"));
    if (res.ok() || res.needsLogin()) setCredentials(null);
    return res;
  }

  public Response request(String method, String target) throws IOException { return request(method, target, new byte[0]); }

  /** A JSON body (Map, List, String, Number, Boolean, null), serialised once; those bytes are signed and sent. */
  public Response request(String method, String target, Object json) throws IOException {
    return request(method, target, Json.stringify(json).getBytes(StandardCharsets.UTF_8));
  }

  /**
   * One signed request. The target is path and query exactly as they go on the request line:
   * percent-encode it yourself, nothing is re-encoded. The body bytes are sent exactly as signed.
   */
  public Response request(String method, String target, byte[] body) throws IOException {
    if (credentials() == null) throw new IllegalStateException("not logged in: call login() or credentials() first");
    refreshIfDue();
    return send(method.toUpperCase(Locale.ROOT), target, body, credentials());
  }

  private Response send(String method, String target, byte[] body, Credentials c) throws IOException {
    String problem = targetProblem(target);
    if (problem != null) throw new IllegalArgumentException(problem);
    String full = prefix + target;
    boolean staleRetried = false;
    boolean replayRetried = false;
    while (true) {
      Map<String, String> headers = new LinkedHashMap<>();
      if (c != null) headers.putAll(sign(c, nextTime(c.keyId()), method, full, body));
      if (body.length > 0) headers.put("Content-Type", "application/json");
      headers.put("Accept", "application/json");
      long sentAt = clock.getAsLong();
      Response res = transport().send(method, full, headers, body);
      long receivedAt = clock.getAsLong();
      if (res.ok() || c == null) return res;
      String code = res.code();
      Long serverTime = parseLong(res.header("x-server-time"));
      if ("AUTH_STALE".equals(code) && !staleRetried && serverTime != null) {
        staleRetried = true;
        synchronized (lock) {
          // The server read its clock when the head arrived: about halfway through the exchange.
          offsetMs = serverTime - (sentAt + receivedAt) / 2;
          // Times past the corrected clock were refused as stale, never accepted: they may be used again.
          long corrected = receivedAt + offsetMs;
          if (last.getOrDefault(c.keyId(), 0L) >= corrected) last.put(c.keyId(), corrected - 1);
        }
        continue;
      }
      if ("AUTH_REPLAY".equals(code) && !replayRetried && IDEMPOTENT.contains(method)) {
        replayRetried = true;
        continue;
      }
      return res;
    }
  }

  private long nextTime(String keyId) {
    synchronized (lock) {
      long t = Math.max(clock.getAsLong() + offsetMs, last.getOrDefault(keyId, 0L) + 1);
      last.put(keyId, t);
      return t;
    }
  }

  private void refreshIfDue() throws IOException {
    Credentials c;
    synchronized (lock) {
      c = creds;
      if (c == null || c.expiresAt() == null || refreshExhausted || c.username().contains(":")) return;
      if (clock.getAsLong() + offsetMs < Instant.parse(c.expiresAt()).toEpochMilli() - refreshBeforeMs) return;
    }
    // One thread refreshes; the others find the new key already in place.
    synchronized (this) {
      if (credentials() == c) refresh();
    }
  }

  private void setCredentials(Credentials c) {
    synchronized (lock) { creds = c; }
    onCredentials.accept(c);
  }

  private Credentials userCredentials(String what) {
    Credentials c = credentials();
    if (c == null) throw new IllegalStateException("not logged in: nothing to " + what);
    if (c.username().contains(":")) throw new IllegalStateException(what + " is for user keys; a client key (" + c.username() + ") is rotated by an admin");
    return c;
  }

  private static byte[] passwordBody(String username, String password) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("username", username);
    m.put("password", password);
    return Json.stringify(m).getBytes(StandardCharsets.UTF_8);
  }

  private static Credentials keyAnswer(Response res) throws IOException {
    if (res.json() instanceof Map<?, ?> m && m.get("username") instanceof String u && m.get("keyId") instanceof String k
        && m.get("signingKey") instanceof String s && m.get("expiresAt") instanceof String e) return new Credentials(u, k, s, e);
    throw new IOException("the server answered " + res.status() + " without username, keyId, signingKey and expiresAt");
  }

  private static Long parseLong(String s) {
    try { return s == null ? null : Long.valueOf(s.trim()); } catch (NumberFormatException e) { return null; }
  }

  private Transport transport() {
    if (transport == null) transport = httpTransport();
    return transport;
  }

  /** The default transport (java.net.http, trusting what trust() set), e.g. to wrap it for logging. */
  public Transport httpTransport() { return new JdkTransport(origin, ssl); }

  /** java.net.http, HTTP/1.1, 30 s per request. */
  static final class JdkTransport implements Transport {
    private final URI origin;
    private final HttpClient http;

    JdkTransport(URI origin, SSLContext ssl) {
      this.origin = origin;
      HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).followRedirects(HttpClient.Redirect.NEVER);
      if (ssl != null) b.sslContext(ssl);
      http = b.build();
    }

    @Override public Response send(String method, String target, Map<String, String> headers, byte[] body) throws IOException {
      // URI.create keeps percent-escapes as they are, and HttpClient sends the raw path and query.
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(origin + target)).timeout(Duration.ofSeconds(30))
          .method(method, body.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
      headers.forEach(b::header);
      try {
        HttpResponse<byte[]> res = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        Map<String, List<String>> h = new TreeMap<>();
        res.headers().map().forEach((k, v) -> h.put(k.toLowerCase(Locale.ROOT), v));
        return new Response(res.statusCode(), h, res.body() == null ? new byte[0] : res.body());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
    }
  }

  // ---- a small JSON reader and writer (the JDK has none) -----------------------------------

  public static final class Json {
    private final String s;
    private int i;
    private Json(String s) { this.s = s; }

    public static Object parse(String text) {
      Json p = new Json(text);
      Object v = p.value();
      p.space();
      if (p.i != text.length()) throw p.error("trailing characters");
      return v;
    }

    public static String stringify(Object v) {
      StringBuilder b = new StringBuilder();
      write(b, v);
      return b.toString();
    }

    private static void write(StringBuilder b, Object v) {
      if (v == null) b.append("null");
      else if (v instanceof String str) quote(b, str);
      else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) b.append(v);
      else if (v instanceof Number n) {
        double d = n.doubleValue();
        if (Double.isNaN(d) || Double.isInfinite(d)) throw new IllegalArgumentException("JSON has no NaN or infinity");
        b.append(d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d));
      } else if (v instanceof Map<?, ?> m) {
        b.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : m.entrySet()) {
          if (!first) b.append(',');
          first = false;
          quote(b, String.valueOf(e.getKey()));
          b.append(':');
          write(b, e.getValue());
        }
        b.append('}');
      } else if (v instanceof Collection<?> list) {
        b.append('[');
        boolean first = true;
        for (Object o : list) {
          if (!first) b.append(',');
          first = false;
          write(b, o);
        }
        b.append(']');
      } else throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
    }

    private static void quote(StringBuilder b, String str) {
      b.append('"');
      for (int k = 0; k < str.length(); k++) {
        char c = str.charAt(k);
        switch (c) {
          case '"' -> b.append("\\\"");
          case '\\' -> b.append("\\\\");
          case '\n' -> b.append("\\n");
          case '\r' -> b.append("\\r");
          case '\t' -> b.append("\\t");
          default -> {
            // Everything outside printable ASCII as \\u escapes: the text is then the same in any charset.
            if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
          }
        }
      }
      b.append('"');
    }

    private IllegalArgumentException error(String what) { return new IllegalArgumentException("JSON: " + what + " at offset " + i); }

    private void space() { while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++; }

    private Object value() {
      space();
      if (i >= s.length()) throw error("unexpected end");
      char c = s.charAt(i);
      if (c == '{') {
        i++;
        Map<String, Object> m = new LinkedHashMap<>();
        space();
        if (i < s.length() && s.charAt(i) == '}') { i++; return m; }
        while (true) {
          space();
          if (i >= s.length() || s.charAt(i) != '"') throw error("expected a key");
          String k = string();
          space();
          expect(':');
          m.put(k, value());
          space();
          if (i < s.length() && s.charAt(i) == ',') { i++; continue; }
          expect('}');
          return m;
        }
      }
      if (c == '[') {
        i++;
        List<Object> list = new ArrayList<>();
        space();
        if (i < s.length() && s.charAt(i) == ']') { i++; return list; }
        while (true) {
          list.add(value());
          space();
          if (i < s.length() && s.charAt(i) == ',') { i++; continue; }
          expect(']');
          return list;
        }
      }
      if (c == '"') return string();
      if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
      if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
      if (s.startsWith("null", i)) { i += 4; return null; }
      int start = i;
      while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
      if (start == i) throw error("unexpected character");
      try { return Double.valueOf(s.substring(start, i)); } catch (NumberFormatException e) { throw error("bad number"); }
    }

    private void expect(char c) {
      if (i >= s.length() || s.charAt(i) != c) throw error("expected '" + c + "'");
      i++;
    }

    private String string() {
      expect('"');
      StringBuilder b = new StringBuilder();
      while (true) {
        if (i >= s.length()) throw error("unterminated string");
        char c = s.charAt(i++);
        if (c == '"') return b.toString();
        if (c != '\\') { b.append(c); continue; }
        if (i >= s.length()) throw error("unterminated escape");
        char e = s.charAt(i++);
        switch (e) {
          case '"', '\\', '/' -> b.append(e);
          case 'b' -> b.append('\b');
          case 'f' -> b.append('\f');
          case 'n' -> b.append('\n');
          case 'r' -> b.append('\r');
          case 't' -> b.append('\t');
          case 'u' -> {
            if (i + 4 > s.length()) throw error("short \\u escape");
            try { b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); } catch (NumberFormatException x) { throw error("bad \\u escape"); }
            i += 4;
          }
          default -> throw error("bad escape");
        }
      }
    }
  }

  static String hex(byte[] bytes) {
    StringBuilder b = new StringBuilder(bytes.length * 2);
    for (byte x : bytes) b.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
    return b.toString();
  }

  static byte[] unhex(String s) {
    if (s.length() % 2 != 0) throw new IllegalArgumentException("odd hex length");
    byte[] out = new byte[s.length() / 2];
    for (int k = 0; k < out.length; k++) out[k] = (byte) Integer.parseInt(s.substring(2 * k, 2 * k + 2), 16);
    return out;
  }

  // ---- the command line --------------------------------------------------------------------

  private static final String USAGE = String.join("\n",
      "usage: java SignedApi.java signup|login USERNAME       password from $SIGNED_API_PASSWORD; login prints export lines:",
      "           eval \"$(java SignedApi.java login alice)\"",
      "       java SignedApi.java request METHOD TARGET [JSON | @FILE]   body on stdout, \"HTTP <status>\" on stderr",
      "           (@FILE sends the file's bytes exactly; inline JSON is read as your locale decodes arguments)",
      "       java SignedApi.java vectors < cases.json        signs each {key,username,keyId,time,method,target,bodyHex}",
      "env: SIGNED_API_URL (default https://127.0.0.1:8443), SIGNED_API_CA (a PEM to trust),",
      "     SIGNED_API_USERNAME, SIGNED_API_KEY_ID, SIGNED_API_KEY (printed by login)",
      "exit codes: 0 a 2xx answer, 1 the server refused (4xx or 5xx), 2 bad arguments, 3 the server could not be reached");

  public static void main(String[] args) {
    int code;
    try {
      code = run(args);
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println("SignedApi: " + e.getMessage());
      code = 2;
    } catch (IOException | GeneralSecurityException e) {
      System.err.println("SignedApi: " + e);
      code = 3;
    }
    System.exit(code);
  }

  private static int run(String[] args) throws IOException, GeneralSecurityException {
    String command = args.length > 0 ? args[0] : "";
    if (command.equals("vectors")) {
      List<Object> out = new ArrayList<>();
      for (Object o : (List<?>) Json.parse(new String(System.in.readAllBytes(), StandardCharsets.UTF_8))) {
        Map<?, ?> v = (Map<?, ?>) o;
        byte[] msg = canonical((String) v.get("username"), (String) v.get("keyId"), (String) v.get("time"), (String) v.get("method"), (String) v.get("target"), unhex((String) v.get("bodyHex")));
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("name", v.get("name"));
        r.put("canonicalHex", hex(msg));
        r.put("signature", signature((String) v.get("key"), msg));
        out.add(r);
      }
      System.out.println(Json.stringify(out));
      return 0;
    }
    Map<String, String> env = System.getenv();
    SignedApi api = new SignedApi(env.getOrDefault("SIGNED_API_URL", "https://127.0.0.1:8443"));
    String ca = env.get("SIGNED_API_CA");
    if (ca != null && !ca.isEmpty()) api.trust(Path.of(ca));
    if ((command.equals("signup") || command.equals("login")) && args.length == 2) {
      String password = env.get("SIGNED_API_PASSWORD");
      if (password == null || password.isEmpty()) throw new IllegalArgumentException("set SIGNED_API_PASSWORD");
      Response res = command.equals("signup") ? api.signup(args[1], password) : api.login(args[1], password);
      if (command.equals("login") && res.status() == 200) {
        Credentials c = api.credentials();
        System.out.println("export SIGNED_API_USERNAME='" + c.username() + "' SIGNED_API_KEY_ID='" + c.keyId() + "' SIGNED_API_KEY='" + c.signingKey() + "'");
      } else System.out.println(res.text());
      System.err.println("HTTP " + res.status());
      return res.ok() ? 0 : 1;
    }
    if (command.equals("request") && (args.length == 3 || args.length == 4)) {
      String user = env.get("SIGNED_API_USERNAME"), keyId = env.get("SIGNED_API_KEY_ID"), key = env.get("SIGNED_API_KEY");
      if (user == null || keyId == null || key == null || key.isEmpty()) throw new IllegalArgumentException("set SIGNED_API_USERNAME, SIGNED_API_KEY_ID and SIGNED_API_KEY (eval the output of login)");
      // No expiresAt: one command is one request, so it never refreshes a key it could not store.
      api.credentials(new Credentials(user, keyId, key));
      byte[] body = args.length < 4 ? new byte[0] : args[3].startsWith("@") ? Files.readAllBytes(Path.of(args[3].substring(1))) : args[3].getBytes(StandardCharsets.UTF_8);
      List<Integer> statuses = new ArrayList<>();
      Response res = api.transport(recording(api.transport(), statuses)).request(args[1], args[2], body);
      for (int s : statuses) System.err.println("HTTP " + s);
      System.out.write(res.body());
      if (res.body().length > 0) System.out.println();
      System.out.flush();
      return res.ok() ? 0 : 1;
    }
    System.err.println(USAGE);
    return 2;
  }

  /** The status of every attempt, so the command line shows a re-signed request as two lines. */
  private static Transport recording(Transport inner, List<Integer> statuses) {
    return (method, target, headers, body) -> {
      Response r = inner.send(method, target, headers, body);
      statuses.add(r.status());
      return r;
    };
  }
}
