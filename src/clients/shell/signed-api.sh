#!/usr/bin/env bash
# Signed-request client for protocol v1 (protocol-v1.md) with curl and openssl.
#   signed-api.sh signup|login USERNAME     password from $SIGNED_API_PASSWORD; login prints export lines:
#       eval "$(signed-api.sh login alice)"
#   signed-api.sh request METHOD TARGET [JSON | @FILE]    body on stdout, "HTTP <status>" on stderr
#   signed-api.sh sign METHOD TARGET MICROTIME [@FILE]    prints the Auth-Signature only
# Env: SIGNED_API_URL (default https://127.0.0.1:8443), SIGNED_API_CA (a PEM to trust, e.g. var/dev-cert.pem),
#      SIGNED_API_USERNAME, SIGNED_API_KEY_ID, SIGNED_API_KEY (set by login).
# Exit: 0 a 2xx answer, 1 a 4xx or 5xx answer (its JSON error on stdout), 2 usage, else curl's code (7: no server).
# The key reaches openssl on its command line: on a shared machine other users can see it in `ps`.
set -euo pipefail
url=${SIGNED_API_URL:-https://127.0.0.1:8443}
curl_opts=(-sS --path-as-is ${SIGNED_API_CA:+--cacert "$SIGNED_API_CA"})  # --path-as-is: send the target untouched
body=$(mktemp) && trap 'rm -f "$body" "$body.h"' EXIT

read_body() { case ${1:-} in @*) cat -- "${1#@}" >"$body" ;; *) printf '%s' "${1:-}" >"$body" ;; esac; }

sign() { # METHOD TARGET MICROTIME: HMAC-SHA256 over the six lines, an LF after each, then the body bytes
  { printf 'HMAC-SHA256-V1\n%s\n%s\n%s\n%s\n%s\n' "$SIGNED_API_USERNAME" "$SIGNED_API_KEY_ID" "$3" "$1" "$2"; cat "$body"; } |
    openssl dgst -sha256 -hmac "$SIGNED_API_KEY" -r | cut -d' ' -f1
}

send() { # METHOD TARGET MICROTIME: prints the body, keeps the answer's headers in $body.h
  local how=(-X "$1") sig; sig=$(sign "$@")
  [ "$1" = HEAD ] && how=(--head)
  [ -s "$body" ] && how+=(-H 'Content-Type: application/json' --data-binary "@$body")
  curl "${curl_opts[@]}" "${how[@]}" -D "$body.h" -w '%{stderr}HTTP %{http_code}\n' \
    -H "Auth-Username: $SIGNED_API_USERNAME" -H "Auth-Key-Id: $SIGNED_API_KEY_ID" \
    -H "X-Microtime: $3" -H "Auth-Signature: $sig" "$url$2"
}

now_ms() { local t; t=$(date +%s%3N); [[ $t =~ ^[0-9]+$ ]] && echo "$t" || echo "$(($(date +%s) * 1000))"; }
auth_error() { sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: .*error="\([A-Z_]*\)".*/\1/p' "$body.h"; }
answered() { # exit 0 on a 2xx answer (the last status line in $body.h: a 100 Continue may come first), else 1
  local status; status=$(sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$body.h" | tail -n 1)
  [[ $status == 2?? ]] && exit 0 || exit 1
}

case ${1:-} in
  signup | login)
    p=${SIGNED_API_PASSWORD:?set SIGNED_API_PASSWORD}; p=${p//\\/\\\\}; p=${p//\"/\\\"}  # JSON string escapes
    answer=$(printf '{"username":"%s","password":"%s"}' "${2:?USERNAME}" "$p" |  # via stdin: not in `ps`
      curl "${curl_opts[@]}" -D "$body.h" -H 'Content-Type: application/json' --data-binary @- "$url/auth/$1")
    [ "$1" = signup ] && { echo "$answer"; answered; }
    field() { sed -n "s/.*\"$1\":\"\\([A-Za-z0-9._~:-]*\\)\".*/\\1/p" <<<"$answer"; }
    [ -n "$(field signingKey)" ] || { echo "$answer" >&2; exit 1; }
    echo "export SIGNED_API_USERNAME='$(field username)' SIGNED_API_KEY_ID='$(field keyId)' SIGNED_API_KEY='$(field signingKey)'" ;;
  sign) read_body "${5:-}"; sign "$2" "$3" "$4" ;;
  request)
    read_body "${4:-}"; t=$(now_ms); out=$(send "$2" "$3" "$t")
    if [ "$(auth_error)" = AUTH_STALE ]; then  # the server's clock is in X-Server-Time: sign again with it, once
      t=$(sed -n 's/^[Xx]-[Ss]erver-[Tt]ime: \([0-9]*\).*/\1/p' "$body.h"); out=$(send "$2" "$3" "$t")
    elif [ "$(auth_error)" = AUTH_REPLAY ] && [[ $2 =~ ^(GET|HEAD|PUT|DELETE)$ ]]; then
      out=$(send "$2" "$3" "$((t + 1))")  # a new X-Microtime, a new signature
    fi
    printf '%s\n' "$out"; answered ;;
  *) sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
