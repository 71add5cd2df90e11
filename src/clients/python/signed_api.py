"""Signed-request client for protocol v1 (protocol-v1.md), Python standard library only.

    api = Client("https://127.0.0.1:8443", cafile="var/dev-cert.pem")
    api.login("alice", "correct horse battery staple")
    status, data = api.request("GET", "/auth/whoami")
"""
import hashlib, hmac, json, re, ssl, time, urllib.error, urllib.request


def canonical(username, key_id, microtime, method, target, body=b""):
    """The exact bytes signed: six lines, an LF after each, then the raw body bytes."""
    head = "\n".join(["HMAC-SHA256-V1", username, key_id, str(microtime), method, target]) + "\n"
    return head.encode("ascii") + body


def signature(key, message):
    """The HMAC key is the UTF-8 bytes of the key string, never base64-decoded."""
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


class Client:
    def __init__(self, base_url, cafile=None, username=None, key_id=None, key=None):
        self.base_url, self.context = base_url.rstrip("/"), ssl.create_default_context(cafile=cafile)
        self.username, self.key_id, self.key = username, key_id, key
        self.offset = self.last = 0  # ms the server clock is ahead of ours; last X-Microtime used

    def _send(self, method, target, body, headers):
        # The target goes on the request line as given: percent-encode it yourself, nothing is re-encoded.
        req = urllib.request.Request(self.base_url + target, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as res:
                return res.status, res.headers, res.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def login(self, username, password, path="/auth/login"):  # path="/auth/signup" signs up
        body = json.dumps({"username": username, "password": password}).encode()
        status, _, raw = self._send("POST", path, body, {"Content-Type": "application/json"})
        data = json.loads(raw) if raw else None
        if path == "/auth/login" and status == 200:
            self.username, self.key_id, self.key = data["username"], data["keyId"], data["signingKey"]
        return status, data

    def request(self, method, target, data=None, retry=True):
        body = data if isinstance(data, bytes) else b"" if data is None else json.dumps(data).encode()
        self.last = max(int(time.time() * 1000) + self.offset, self.last + 1)  # never the same twice
        sig = signature(self.key, canonical(self.username, self.key_id, self.last, method, target, body))
        headers = {"Auth-Username": self.username, "Auth-Key-Id": self.key_id, "X-Microtime": str(self.last), "Auth-Signature": sig}
        if body:
            headers["Content-Type"] = "application/json"
        status, got, raw = self._send(method, target, body, headers)
        code = re.search(r'error="(\w+)"', got.get("WWW-Authenticate", ""))  # on every 401, HEAD too
        if retry and code and code[1] == "AUTH_STALE":  # take the clock from X-Server-Time, sign again once
            now = int(time.time() * 1000)
            self.offset = int(got["X-Server-Time"]) - now
            self.last = min(self.last, now + self.offset - 1)  # the stale times were never accepted
            return self.request(method, target, data, retry=False)
        if retry and code and code[1] == "AUTH_REPLAY" and method in ("GET", "HEAD", "PUT", "DELETE"):
            return self.request(method, target, data, retry=False)
        return status, json.loads(raw) if raw and "json" in got.get("Content-Type", "") else raw
