# Sailo — build, run and test.  `make run` and `make test` do all set-up on a
# fresh Debian machine: packages, build, a private PostgreSQL under var/.

CC      ?= cc
CFLAGS  ?= -O2 -g
# Flags Sailo always needs, even when CFLAGS is given on the command line.
XCFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Idaemon -Iingest -Iformats -Iretention \
           -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql) \
           -I/usr/include/libxml2
LDLIBS  := -levent -levent_pthreads -levent_openssl -lhttp_parser -ljansson \
           -linih -lpq -larchive -lunistring -lxml2 -lmagic -lvoikko -lssl -lcrypto -pthread

# Debian packages that build, run and test Sailo (and nothing else).
DEPS := gcc make pkg-config libevent-dev libhttp-parser-dev libjansson-dev \
        libinih-dev libssl-dev libpq-dev postgresql libcmocka-dev \
        libarchive-dev libunistring-dev libxml2-dev libmagic-dev \
        libvoikko-dev voikko-fi \
        libxml2-utils zstd zip \
        clang libclang-rt-14-dev \
        python3 python3-pytest python3-requests python3-psycopg2 python3-tuspy \
        python3-cryptography \
        curl wrk openssl

DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c)) \
              $(wildcard ingest/*.c formats/*.c retention/*.c)
# The bundled schemas, embedded in the binary (formats/schemas.S).
DAEMON_ASM := $(wildcard formats/*.S)
DAEMON_OBJ := $(DAEMON_SRC:%.c=build/%.o) $(DAEMON_ASM:%.S=build/%.o)
SAN_OBJ    := $(DAEMON_SRC:%.c=build/san/%.o) $(DAEMON_ASM:%.S=build/%.o)

UNIT_TESTS := $(patsubst tests/unit/%.c,build/tests/%,$(wildcard tests/unit/test_*.c))
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PY := /usr/bin/python3

# Keep the sanitizer objects between unit builds.
.SECONDARY:

.PHONY: all deps db run stop test unit fuzz e2e e2e-asan bench fmt clean
all: sailo

sailo: build/daemon/main.o $(DAEMON_OBJ)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS)

HEADERS    := $(wildcard daemon/*.h ingest/*.h formats/*.h retention/*.h)

build/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -MMD -c -o $@ $<

build/%.o: %.S $(wildcard formats/schemas/*.xsd formats/schemas/jhs191/*.xsd)
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

# Unit tests link the daemon's objects rebuilt under ASan and UBSan.
build/san/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) $(SAN) -c -o $@ $<

build/tests/test_%: tests/unit/test_%.c $(SAN_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) $(SAN) -o $@ $^ $(LDLIBS) -lcmocka

# The daemon itself under ASan and UBSan, for a second run of the black-box
# tests (leaks and memory errors on every path the tests take).
build/sailo-asan: build/san/daemon/main.o $(SAN_OBJ)
	$(CC) $(CFLAGS) $(XCFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# The HTTP layer alone, behind a handler that discards bodies (bench, tests);
# built without sanitizers so that its memory figures are the real ones.
build/tests/httpsink: tests/httpsink.c $(DAEMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer target for the HTTP layer's parser glue (clang, ASan, UBSan).
FUZZ_HTTP_SRC := daemon/http.c daemon/workers.c daemon/log.c daemon/db.c
build/tests/fuzz_http: tests/fuzz/fuzz_http.c $(FUZZ_HTTP_SRC) $(wildcard daemon/*.h)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(XCFLAGS) -o $@ tests/fuzz/fuzz_http.c $(FUZZ_HTTP_SRC) $(LDLIBS)

build/bench/audit_bench: bench/audit_bench.c $(DAEMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS)

FUZZ_UNPACK_SRC := ingest/unpack.c formats/findings.c formats/digest.c
build/tests/fuzz_unpack: tests/fuzz/fuzz_unpack.c $(FUZZ_UNPACK_SRC) $(HEADERS)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(XCFLAGS) -o $@ tests/fuzz/fuzz_unpack.c $(FUZZ_UNPACK_SRC) $(LDLIBS)

deps:
	@missing=$$(for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

db: deps sailo
	conf/pgcluster.sh start
	./sailo db migrate
	./sailo audit keygen

run: db
	@/usr/bin/python3 tools/demo_plan.py -o var/demo-plan.xml
	@./sailo plan import var/demo-plan.xml >/dev/null && \
	  echo "demo plan loaded (tools/demo_plan.py; see GET /v1/plan)"
	@./sailo token create --role admin --name admin
	./sailo serve

stop:
	conf/pgcluster.sh stop

# test_db talks to the private cluster (a temporary table of its own).
unit: db $(UNIT_TESTS)
	@export SAILO_TEST_CONNINFO="host=$(CURDIR)/var/run dbname=sailo user=sailo_owner"; \
	pass=0; fail=0; for t in $(UNIT_TESTS); do \
	  if $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); fi; done; \
	  echo "unit: $$pass passed, $$fail failed"; [ $$fail = 0 ]

e2e: db build/tests/httpsink
	$(PY) -m pytest -q -rfE tests/e2e

# A fixed number of runs from the seeds (new inputs go to build/, not to the
# committed seeds); a crash fails the build and leaves crash-* in build/.
FUZZ_RUNS ?= 50000
FUZZ_UNPACK_RUNS ?= 20000
fuzz: deps build/tests/fuzz_http build/tests/fuzz_unpack
	@rm -rf build/fuzz-corpus build/fuzz-unpack && mkdir -p build/fuzz-corpus
	build/tests/fuzz_http -runs=$(FUZZ_RUNS) -seed=1 -max_len=4096 -len_control=0 \
	    -artifact_prefix=build/ build/fuzz-corpus tests/fuzz/seeds_http
	tests/fuzz/make_unpack_seeds.sh build/fuzz-unpack/seeds
	build/tests/fuzz_unpack -runs=$(FUZZ_UNPACK_RUNS) -seed=1 -max_len=65536 \
	    -artifact_prefix=build/ build/fuzz-unpack build/fuzz-unpack/seeds
	@echo "fuzz: 2 passed, 0 failed ($(FUZZ_RUNS) runs of fuzz_http, $(FUZZ_UNPACK_RUNS) of fuzz_unpack)"

# The same black-box tests against the sanitized daemon; a leak makes its
# exit status non-zero, which the tests that stop it assert.  The one test
# that measures sailo's memory is left out here (ASan's own memory).
e2e-asan: db build/sailo-asan build/tests/httpsink
	SAILO_BIN=build/sailo-asan ASAN_OPTIONS=detect_leaks=1 \
	    $(PY) -m pytest -q -rfE tests/e2e -k "not flat_memory"

test: unit fuzz e2e e2e-asan

bench: db build/tests/httpsink build/bench/audit_bench
	bench/settle.sh start
	bench/http_body.sh
	bench/audit.sh
	bench/ingest.sh
	bench/retention.sh
	bench/disposal.sh
	bench/access.sh
	bench/settle.sh end

fmt:
	clang-format -i daemon/*.c daemon/*.h ingest/*.c ingest/*.h formats/*.c \
	    formats/*.h retention/*.c retention/*.h tests/unit/*.c \
	    tests/*.c tests/fuzz/*.c

clean:
	rm -rf build sailo

-include $(shell find build -name '*.d' 2>/dev/null)
