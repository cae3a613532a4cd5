#!/bin/bash
# Runs the test suites against real components: unit (pure core), store (both
# drivers: a SQLite file and a throwaway PostgreSQL) and api (a running
# `patron serve` on both databases, driven by pytest) and web (the dashboard
# and the portal in Debian's Chromium, tests/web/run.sh). Usage:
#   BUILD=build/release scripts/run-tests.sh [unit] [store] [api] [web]
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
suites=${*:-unit store api web}
passed=0
failed=0
failures=""

record() { # name status
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $1"; fi
}

pg_dir=$(scripts/pg-harness.sh start) || { echo "run-tests: cannot start PostgreSQL" >&2; exit 1; }
trap 'scripts/pg-harness.sh stop "$pg_dir"' EXIT
export PATRON_TEST_PG_HOST="$pg_dir"
export PATRON_BIN="$PWD/$BUILD/patron"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
work=$(mktemp -d /tmp/patron-test.XXXXXX)

for suite in $suites; do
    case $suite in
    unit)
        for src in tests/unit/test_*.c; do
            t=$(basename "$src" .c)
            echo "== unit: $t"
            "$BUILD/tests/$t"
            record "unit/$t" $?
        done
        ;;
    store)
        for src in tests/store/test_*.c; do
            t=$(basename "$src" .c)
            echo "== store (sqlite): $t"
            PATRON_TEST_DB="$work/$t.db" "$BUILD/tests/$t"
            record "store-sqlite/$t" $?
            echo "== store (postgres): $t"
            PATRON_TEST_DB="postgresql:///postgres?host=$pg_dir&user=postgres" "$BUILD/tests/$t"
            record "store-postgres/$t" $?
        done
        ;;
    api)
        echo "== api (pytest, sqlite and postgres)"
        /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/api
        record "api" $?
        ;;
    web)
        # Under the sanitizers the pages run on SQLite only: the server's code
        # paths are the same, and CI stays well under its 30 minutes.
        engines="sqlite postgres"
        case $BUILD in *san*) engines="sqlite" ;; esac
        echo "== web (Chromium, $engines)"
        tests/web/run.sh $engines
        record "web" $?
        ;;
    *)
        echo "run-tests: unknown suite '$suite' (unit, store, api, web)" >&2
        record "$suite" 1
        ;;
    esac
done
rm -rf "$work"
echo
[ -n "$failures" ] && echo "failed suites:$failures"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
