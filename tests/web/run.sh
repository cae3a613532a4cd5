#!/bin/bash
# The browser tests: for each engine (SQLite, and PostgreSQL when
# PATRON_TEST_PG_HOST names the harness's server) a demo shop served by a real
# `patron serve`, a real SMTP server on loopback (aiosmtpd) for the portal's
# sign-in mail, and Debian's Chromium driven by npm's playwright-core
# (web/tests/*.test.mjs). Screenshots go to web/test-results/<engine>/.
# Usage: tests/web/run.sh [sqlite] [postgres]   (PATRON_WEB_TESTS="web/tests/x.test.mjs ..." runs only those)
set -u
cd "$(dirname "$0")/../.."
PATRON_BIN=${PATRON_BIN:-$PWD/patron}
engines=${*:-sqlite postgres}
status=0
[ -d web/node_modules/playwright-core ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for engine in $engines; do
    work=$(mktemp -d /tmp/patron-web.XXXXXX)
    case $engine in
    sqlite) db="$work/shop.db" ;;
    postgres)
        if [ -z "${PATRON_TEST_PG_HOST:-}" ]; then
            echo "== web (postgres): skipped, PATRON_TEST_PG_HOST is not set (scripts/pg-harness.sh start)"
            rm -rf "$work"; continue
        fi
        name="web_$$_$RANDOM"
        createdb -h "$PATRON_TEST_PG_HOST" -U postgres "$name" || { status=1; continue; }
        db="postgresql:///$name?host=$PATRON_TEST_PG_HOST&user=postgres" ;;
    *) echo "web: unknown engine '$engine'" >&2; status=1; continue ;;
    esac
    echo "== web ($engine): demo shop, SMTP, patron serve, Chromium"
    /usr/bin/python3 tests/web/smtp_sink.py "$work/mail" "$work/smtp.port" &
    smtp_pid=$!
    for _ in $(seq 100); do [ -f "$work/smtp.port" ] && break; sleep 0.05; done
    if [ ! -f "$work/smtp.port" ]; then
        echo "web ($engine): the SMTP sink did not start" >&2; status=1; kill "$smtp_pid" 2>/dev/null; continue
    fi
    port=$(free_port)
    export PATRON_SMTP_URL="smtp://127.0.0.1:$(cat "$work/smtp.port")" PATRON_MAIL_FROM="shop@maison-verte.example"
    export PATRON_PUBLIC_URL="http://127.0.0.1:$port"
    if ! "$PATRON_BIN" demo --db "$db" > "$work/demo.log" 2>&1; then
        cat "$work/demo.log"; status=1
    else
        "$PATRON_BIN" serve --db "$db" --port "$port" > "$work/serve.log" 2>&1 &
        serve_pid=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
        PATRON_URL="http://127.0.0.1:$port" PATRON_MAIL_DIR="$work/mail" PATRON_DB="$db" PATRON_ENGINE="$engine" \
            PATRON_SCREENSHOTS="$PWD/web/test-results/$engine" \
            node --test --test-concurrency=1 ${PATRON_WEB_TESTS:-web/tests/*.test.mjs} || { status=1; tail -20 "$work/serve.log"; }
        kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null
    fi
    kill "$smtp_pid" 2>/dev/null; wait "$smtp_pid" 2>/dev/null
    [ "$engine" = postgres ] && dropdb -h "$PATRON_TEST_PG_HOST" -U postgres "$name"
    rm -rf "$work"
done
exit $status
