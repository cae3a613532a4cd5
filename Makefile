# patron -- build, run, test, bench.
#   make            build ./patron (installs missing Debian packages first)
#   make run        build, fill demo.db with the demo shop, serve it on :8080
#   make test       unit, store (SQLite + PostgreSQL) and API suites
#   make test SAN=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      the benchmarks in bench/
#   make lint / format

SAN ?= 0
PORT ?= 8080
CC ?= cc
ifeq ($(SAN),1)
BUILD := build/san
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD := build/release
OPT := -O2 -g
endif

PKGS := sqlite3 libpq libmicrohttpd jansson libsodium libcurl nlopt
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Werror
CFLAGS_ALL = -std=c17 -D_DEFAULT_SOURCE $(OPT) $(WARN) -Isrc -MMD -MP $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lcsv -lpthread -lm $(LDLIBS)

LIB_SRC := $(sort $(wildcard src/core/*.c src/store/*.c src/app/*.c src/http/*.c src/jobs/*.c src/cli/*.c))
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/web_assets.o
WEB_SRC := $(shell find web/src -type f) web/build.mjs web/package-lock.json
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
STORE_TESTS := $(patsubst tests/store/%.c,$(BUILD)/tests/%,$(wildcard tests/store/test_*.c))
TEST_COMMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/common/*.c))
.SECONDARY: $(TEST_COMMON_OBJ)

.PHONY: all deps run test test-build bench fuzz lint format clean
all: deps patron

deps:
	@scripts/deps.sh build

patron: $(BUILD)/patron
ifeq ($(SAN),0)
	@cp $(BUILD)/patron patron.tmp && mv -f patron.tmp patron  # rename: works while ./patron runs
endif

$(BUILD)/patron: $(BUILD)/src/main.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/gen/migrations.c: $(MIGRATIONS) src/store/migrations scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $@ $(MIGRATIONS)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The dashboard and the portal: bundled by esbuild (npm ci of web/'s lockfile
# on first use), then embedded as a C table like the migrations.
$(BUILD)/web/.built: $(WEB_SRC) scripts/web-build.sh
	@rm -rf $(BUILD)/web && mkdir -p $(BUILD)/web
	scripts/web-build.sh $(abspath $(BUILD)/web)
	@touch $@

$(BUILD)/gen/web_assets.c: $(BUILD)/web/.built scripts/embed-assets.sh
	@mkdir -p $(dir $@)
	scripts/embed-assets.sh $@ $(BUILD)/web

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(TEST_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c %.o,$^) $(LDLIBS_ALL) -lcmocka

$(BUILD)/tests/%: tests/store/%.c $(LIB_OBJ) $(TEST_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c %.o,$^) $(LDLIBS_ALL) -lcmocka

test-build: $(BUILD)/patron $(UNIT_TESTS) $(STORE_TESTS)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory test-build SAN=$(SAN)
	@BUILD=$(BUILD) scripts/run-tests.sh $(SUITES)

run: all
	@test -f demo.db || ./patron demo --db demo.db
	./patron serve --db demo.db --port $(PORT)

bench: all $(BUILD)/bench/expr_bench $(BUILD)/bench/btyd_bench $(BUILD)/bench/next_bench
	@scripts/deps.sh bench
	$(BUILD)/bench/expr_bench $(BENCH_MEMBERS)
	@bench/import.sh $(BENCH_IMPORT_ROWS)
	@bench/run.sh
	@bench/outbox.sh
	@BUILD=$(BUILD) bench/analytics.sh $(BENCH_ANALYTICS_ROWS)
	@bench/web.sh $(BENCH_WEB_MEMBERS)

$(BUILD)/bench/%: bench/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c %.o,$^) $(LDLIBS_ALL)

# The expression parser under libFuzzer with ASan + UBSan, for FUZZ_RUNS inputs.
FUZZ_RUNS ?= 200000
FUZZ_SRC := $(wildcard src/core/*.c) tests/common/expr_fixture.c tests/fuzz/fuzz_expr.c
build/fuzz/fuzz_expr: $(FUZZ_SRC) $(wildcard src/core/*.h tests/common/*.h)
	@mkdir -p $(dir $@)
	clang -std=c17 -D_DEFAULT_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Isrc -o $@ $(FUZZ_SRC) $(shell pkg-config --cflags --libs jansson nlopt) -lm

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory build/fuzz/fuzz_expr
	tests/fuzz/run.sh build/fuzz/fuzz_expr $(FUZZ_RUNS)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr -Isrc src
	clang-tidy --quiet $(LIB_SRC) src/main.c -- -std=c17 -D_DEFAULT_SOURCE -Isrc $(PKG_CFLAGS)

format:
	clang-format -i $(LIB_SRC) src/main.c $(wildcard src/*/*.h tests/*/*.c)

clean:
	rm -rf build patron

-include $(shell find build -name '*.d' 2>/dev/null)
