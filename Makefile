# coapd - see README.  Plain GNU make; ./configure (autoconf) may write
# config.mk with prefix/sysconfdir/WOLFSSL, included below when present.
-include config.mk

VERSION		?= 0.1.0
prefix		?= /usr/local
sbindir		?= $(prefix)/sbin
sysconfdir	?= /etc
datadir		?= $(prefix)/share
mandir		?= $(prefix)/share/man
unitdir		?= /lib/systemd/system
sysctldir	?= /usr/lib/sysctl.d
localstatedir	?= /var
# The unit's StateDirectory=coapd: the only place ProtectSystem=strict
# leaves writable, so the installed writable route lives here.
statedir	?= $(localstatedir)/lib/coapd
DESTDIR		?=

CC		?= cc
CFLAGS		?= -O2 -g
WARN		:= -Wall -Wextra -Wformat=2 -Wvla -Wshadow
ifeq ($(CI),true)
WARN		+= -Werror
endif

PKGS		:= liburing libconfig libsystemd
# WOLFSSL=DIR links a wolfSSL installed under DIR (see `make wolfssl`).
WOLFSSL		?=
ifeq ($(WOLFSSL),)
WOLF_CFLAGS	:= $(shell pkg-config --cflags wolfssl 2>/dev/null)
WOLF_LIBS	:= $(shell pkg-config --libs wolfssl 2>/dev/null)
else
WOLF_CFLAGS	:= -I$(abspath $(WOLFSSL))/include
WOLF_LIBS	:= $(abspath $(WOLFSSL))/lib/libwolfssl.a -lm -pthread
endif

# `coapd -V`: liburing 2.3 and libsystemd have no version call or macro, so
# the versions built against come from pkg-config; WOLF_CFLAGS says which
# wolfSSL (it reaches dtls.o only, rebuilt when it changes).
VERSION_DEFS	:= -DCOAPD_LIBURING_VERSION='"$(shell pkg-config --modversion liburing 2>/dev/null)"' \
		   -DCOAPD_LIBSYSTEMD_VERSION='"$(shell pkg-config --modversion libsystemd 2>/dev/null)"'
ifeq ($(WOLFSSL),)
WOLF_CFLAGS	+= -DCOAPD_WOLFSSL_BUILD='"system library"'
else
WOLF_CFLAGS	+= -DCOAPD_WOLFSSL_BUILD='"static, from $(WOLFSSL)"'
endif

PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# SANITIZE=1: everything built with ASan + UBSan (any UB aborts) in its
# own folder, and the tests run that coapd; tests/integ/lib.sh reads
# COAPD_SANITIZE to skip or scale what ASan's shadow memory distorts.
SANITIZE	?= 0
SAN_FLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
ifeq ($(SANITIZE),1)
B		?= build/asan
CFLAGS		+= $(SAN_FLAGS)
export COAPD_SANITIZE := 1
export COAPD := $(abspath $(B))/coapd
export ASAN_OPTIONS ?= abort_on_error=1:detect_leaks=1
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/fuzz/lsan.supp
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
endif

CPPFLAGS	+= -D_GNU_SOURCE -DCOAPD_VERSION='"$(VERSION)"' \
		   -DCOAPD_SYSCONFDIR='"$(sysconfdir)"' $(VERSION_DEFS) -Isrc
ALL_CFLAGS	= $(CPPFLAGS) $(WARN) $(CFLAGS) $(PKG_CFLAGS) $(WOLF_CFLAGS) -pthread -MMD -MP
LIBS		= $(PKG_LIBS) $(WOLF_LIBS) -pthread

B		?= build
# One folder per layer (shared/style.md); file names are unique across
# them, so objects sit flat in $(B).
LAYERS		:= base proto adapt serve daemon
LIB_SRC		:= $(filter-out src/daemon/main.c src/daemon/ctl_main.c,$(wildcard $(LAYERS:%=src/%/*.c)))
LIB_OBJ		:= $(addprefix $(B)/,$(notdir $(LIB_SRC:.c=.o)))
vpath %.c $(LAYERS:%=src/%)
UNIT_SRC	:= $(wildcard tests/unit/test_*.c)
UNIT_BIN	:= $(UNIT_SRC:tests/unit/%.c=$(B)/%)
BENCH_SRC	:= $(wildcard tests/bench/*.c)
BENCH_BIN	:= $(BENCH_SRC:tests/bench/%.c=$(B)/%)
FUZZ_SRC	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY	:= $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%-replay)

.PHONY: all build-tests deps run check unit integ conftest fuzz bench install uninstall \
	clean lint wolfssl check-wolfssl bench-dtls FORCE check-asan fuzz-smoke \
	fuzz-replay soak unit-each

# git keeps no modes: the demo key file gets the 0600 coapd requires
all: $(B)/coapd $(B)/coapd-ctl $(BENCH_BIN) $(B)/rcvbuf.so
	@chmod 0600 conf/coapd.psk

$(B):
	@mkdir -p $(B)

$(B)/%.o: %.c | $(B)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The protocol layer parses untrusted bytes: no implicit narrowing or sign
# change there (issue 15).  -Wconversion, -Werror in CI as for the rest.
PROTO_OBJ	:= $(addprefix $(B)/,$(notdir $(patsubst %.c,%.o,\
		   $(wildcard src/proto/*.c))))
$(PROTO_OBJ): WARN += -Wconversion -Wsign-conversion

# dtls.o (and test_dtls) are the only objects built with wolfSSL's
# headers, whose structures differ between builds: rebuild them when the
# wolfSSL in use changes (`make` then `make WOLFSSL=build/wolfssl`).
$(B)/wolf.flags: FORCE | $(B)
	@echo '$(WOLF_CFLAGS) $(WOLF_LIBS)' | cmp -s - $@ || \
		echo '$(WOLF_CFLAGS) $(WOLF_LIBS)' >$@
$(B)/dtls.o $(B)/test_dtls: $(B)/wolf.flags
FORCE:

$(B)/libcoapd.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/coapd: $(B)/main.o $(B)/libcoapd.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# The control client needs no library of coapd's (ctl.h: the protocol).
$(B)/coapd-ctl: $(B)/ctl_main.o
	$(CC) $(CFLAGS) -o $@ $^

# tests/unit/helpers.c: what the suites share (helpers.h), linked into each.
$(B)/unit_helpers.o: tests/unit/helpers.c | $(B)
	$(CC) $(ALL_CFLAGS) $$(pkg-config --cflags check) -c -o $@ $<

$(B)/test_%: tests/unit/test_%.c $(B)/unit_helpers.o $(B)/libcoapd.a
	$(CC) $(ALL_CFLAGS) $$(pkg-config --cflags check) -o $@ $< \
		$(B)/unit_helpers.o $(B)/libcoapd.a $(LIBS) \
		$$(pkg-config --libs check)

$(B)/%: tests/bench/%.c | $(B)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lm -pthread

# The minimal backend of tests/bench/routes.sh.
$(B)/min-backend: tests/backend/min-backend.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $<

bench-routes: all $(B)/min-backend
	@bash tests/bench/routes.sh

# LD_PRELOAD shim giving libcoap's server the responder's receive buffer
# in `make bench` (see the file).
$(B)/rcvbuf.so: tests/bench/shim/rcvbuf.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -shared -fPIC -o $@ $< -ldl

# Fuzz targets replayed over their corpus by a plain main (no libFuzzer).
$(B)/fuzz_%-replay: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(B)/libcoapd.a
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(B)/libcoapd.a $(LIBS)

# libFuzzer builds for `make fuzz` (clang): the library once, instrumented
# for coverage, ASan and UBSan, in $(B)/fz; each target links it.
FUZZ_CC		?= clang
FUZZ_FLAGS	:= -g -O1 $(SAN_FLAGS)
FUZZ_OBJ	:= $(addprefix $(B)/fz/,$(notdir $(LIB_SRC:.c=.o)))
FUZZ_BIN	:= $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%)
$(B)/fz:
	@mkdir -p $@
$(B)/fz/%.o: %.c | $(B)/fz
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
		$(PKG_CFLAGS) $(WOLF_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/fz/libcoapd.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^
$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(B)/fz/libcoapd.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer \
		$(PKG_CFLAGS) $(WOLF_CFLAGS) -o $@ $< $(B)/fz/libcoapd.a $(LIBS)

deps:
	@sh tests/deps.sh

run: deps $(B)/coapd
	@chmod 0600 conf/coapd.psk	# git keeps no 0600; coapd requires it
	$(B)/coapd -c conf/coapd.conf

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

# The same, one target per suite, for `make -jN -Otarget unit-each` (make
# check): test_xch waits out real hook delays (some 20 s), the others run
# beside it.
unit-each: $(UNIT_BIN:%=%.run)
$(B)/test_%.run: $(B)/test_% FORCE
	@$<

conftest: $(B)/coapd
	@sh tests/conf/run.sh $(B)/coapd

integ: $(B)/coapd $(B)/coapd-ctl
	@bash tests/integ/run.sh

fuzz-replay: $(FUZZ_REPLAY)
	@fail=0; for t in $(FUZZ_REPLAY); do \
		n=$$(basename $$t -replay); \
		$$t tests/fuzz/corpus/$${n#fuzz_} || fail=1; done; exit $$fail

# `make check`: tests/ci/check.sh.  The whole suite on the plain build,
# the unit tests and fuzz replays again under ASan+UBSan (check-asan) and
# every fuzz target for a few seconds (fuzz-smoke); with CI=true (what CI
# sets) or SOAK=1 also the soak for SOAK_S (120) seconds, end checks
# asserted.  Static analysis and the slow builds run under nice 10 beside
# the tests that wait; each stage's seconds are printed.  `make check
# SANITIZE=1` runs the whole suite on the sanitizer build instead (some 3x
# slower; see README).
BUILD_JOBS	?= $(shell nproc 2>/dev/null || echo 2)
build-tests: $(UNIT_BIN) $(FUZZ_REPLAY)

check: deps
	@MAKE='$(MAKE)' B='$(B)' SANITIZE='$(SANITIZE)' \
	    BUILD_JOBS='$(BUILD_JOBS)' SOAK_S='$(CHECK_SOAK_S)' \
	    bash tests/ci/check.sh
CHECK_SOAK_S	?= 120

check-asan:
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) SANITIZE=1 B=build/asan \
	    build-tests
	@$(MAKE) --no-print-directory SANITIZE=1 B=build/asan unit fuzz-replay

# Each libFuzzer target for FUZZ_SMOKE_S seconds from its corpus; skipped
# (not failed) without clang's libFuzzer.  A crash leaves its input in
# $(B)/fuzz-crash-NAME-*: fix it and add the input to the corpus.
FUZZ_SMOKE_S	?= 4
fuzz-smoke:
	@if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n)' \
	    '{ return 0; }' | $(FUZZ_CC) -fsanitize=fuzzer -x c - \
	    -o $(B)/fuzz-probe 2>/dev/null; then \
		echo "SKIP fuzz-smoke: no $(FUZZ_CC) with libFuzzer"; exit 0; fi; \
	$(MAKE) --no-print-directory -j$(BUILD_JOBS) $(FUZZ_BIN) && \
	$(MAKE) --no-print-directory FUZZ_SECONDS=$(FUZZ_SMOKE_S) fuzz

# `make wolfssl`: Debian's own wolfssl source package, built with
# WOLFSSL_STATIC_PSK so that it offers TLS_PSK_WITH_AES_128_CCM_8 (RFC 7252
# 9.1.3.1), into $(B)/wolfssl; then `make WOLFSSL=$(B)/wolfssl`.
wolfssl:
	@sh tests/wolfssl/build.sh $(B)/wolfssl

# The DTLS tests again with coapd linked against that build (built once,
# cached): $(B)/coapd-ccm8 must negotiate CCM-8.  Skipped (not failed) when
# the Debian source package cannot be fetched.
check-wolfssl:
	@sh tests/wolfssl/build.sh $(B)/wolfssl; rc=$$?; \
	if [ $$rc -eq 77 ]; then \
		echo "SKIP check-wolfssl: no wolfssl source package"; exit 0; fi; \
	[ $$rc -eq 0 ] || exit $$rc; \
	$(MAKE) --no-print-directory -j$(BUILD_JOBS) B=$(B)/ccm8 \
	    WOLFSSL=$(B)/wolfssl $(B)/ccm8/coapd && cp $(B)/ccm8/coapd $(B)/coapd-ccm8 && \
	COAPD=$(CURDIR)/$(B)/coapd-ccm8 COAPD_EXPECT_CCM8=1 \
	    bash tests/integ/run.sh 81-dtls 82-dtls 83-dtls 84-dtls

# Every target for FUZZ_SECONDS (default 60) each; new inputs go to
# $(B)/corpus-NAME (copy the interesting ones to tests/fuzz/corpus/NAME).
fuzz: $(FUZZ_BIN)
	@export LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp; \
	for f in $^; do n=$$(basename $$f); mkdir -p $(B)/corpus-$$n; \
		echo "fuzz: $$n for $${FUZZ_SECONDS:-60} s"; \
		$$f -max_total_time=$${FUZZ_SECONDS:-60} -print_final_stats=1 \
		-artifact_prefix=$(B)/fuzz-crash-$$n- $(B)/corpus-$$n \
		tests/fuzz/corpus/$${n#fuzz_} >$(B)/fuzz-$$n.log 2>&1 || \
		{ tail -40 $(B)/fuzz-$$n.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units' $(B)/fuzz-$$n.log; \
		done

# A soak of SOAK_S seconds (default 600) under mixed traffic and faults,
# end checks asserted; RSS and fds in $(B)/soak/soak.csv and soak.png.
SOAK_S		?= 600
soak: deps $(B)/coapd
	@SOAK_S=$(SOAK_S) SOAK_OUT=$(CURDIR)/$(B)/soak COAPD=$(CURDIR)/$(B)/coapd \
	    bash tests/soak/run.sh

bench: deps all $(B)/dtls-bench $(B)/min-backend
	@bash tests/bench/run.sh
	@bash tests/bench/routes.sh
	@bash tests/bench-dtls/run.sh

# DTLS PSK: coapd vs libcoap's coap-server-openssl (tests/bench-dtls).
$(B)/dtls-bench: tests/bench-dtls/dtls-bench.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(WOLF_CFLAGS) -o $@ $< \
		$(WOLF_LIBS) -pthread

bench-dtls: deps all $(B)/dtls-bench
	@bash tests/bench-dtls/run.sh

# Layering, library ownership and size limits: tests/lint/layers.sh.
# LINT_SIZES=0 skips the size limits (800-line files, 80-line functions).
LINT_SIZES	?= 1
# Then cppcheck and clang-tidy (tests/lint/analyze.sh, ANALYZE=0 skips).
# One recipe line through the shell: make waits for one child only.
lint:
	@LINT_SIZES=$(LINT_SIZES) sh tests/lint/layers.sh && \
		sh tests/lint/analyze.sh

# `make install` (DESTDIR=... for staging): coapd and coapd-ctl when built,
# every man/*.N page, the unit, the sysctl drop-in, the state directory
# with the upload area, the demo tree in $(datadir)/coapd and a coapd.conf
# pointing at it, so that `coapd -t` passes on a fresh install.  An
# existing coapd.conf is never replaced: the new one is installed beside it
# as coapd.conf.new.  The installed copy differs from conf/coapd.conf only
# where it must:
#  - static and hook[0] values naming the demo files point into
#    $(datadir)/coapd, wherever they sit on their line (rt = "demo.greeting"
#    stays as it is), and the writable demo/upload into $(statedir)/upload
#    (ProtectSystem=strict leaves only the StateDirectory writable);
#  - the coaps listener and psk_file are commented out, psk_file naming the
#    credential the unit loads (LoadCredential=coapd.psk): the demo keys
#    are public and are not installed; an operator puts their own in
#    /etc/credstore/coapd.psk and uncomments the two lines.
INSTALL_CONF_SED = -E \
	-e 's@(^|[[:space:]{;])(static[[:space:]]*=[[:space:]]*)"demo/upload"@\1\2"$(statedir)/upload"@g' \
	-e 's@(^|[[:space:]{;])(static[[:space:]]*=[[:space:]]*)"(demo|demo/[^"]*)"@\1\2"$(datadir)/coapd/\3"@g' \
	-e 's@(^|[[:space:]{;])(hook[[:space:]]*=[[:space:]]*\[[[:space:]]*)"(demo-hooks/[^"]*)"@\1\2"$(datadir)/coapd/\3"@g' \
	-e 's@^(	, \{ address = "::"; port = 5684; dtls = true; \})@\#\1@' \
	-e 's@^	psk_file = "coapd\.psk";@\#	psk_file = "credential:coapd.psk";@'
CONF_DEST	= $(DESTDIR)$(sysconfdir)/coapd.conf

install: $(B)/coapd $(B)/coapd-ctl
	install -D -m 0755 $(B)/coapd $(DESTDIR)$(sbindir)/coapd
	install -D -m 0755 $(B)/coapd-ctl $(DESTDIR)$(sbindir)/coapd-ctl
	install -D -m 0644 contrib/coapd-ctl.bash \
		$(DESTDIR)$(datadir)/bash-completion/completions/coapd-ctl
	install -d $(DESTDIR)$(sysconfdir) $(DESTDIR)$(datadir)/coapd
	rm -rf $(DESTDIR)$(datadir)/coapd/demo $(DESTDIR)$(datadir)/coapd/demo-hooks
	cp -R conf/demo conf/demo-hooks $(DESTDIR)$(datadir)/coapd/
	install -d -m 0750 $(DESTDIR)$(statedir)/upload
	sed $(INSTALL_CONF_SED) conf/coapd.conf >$(B)/coapd.conf.install
	@if [ -e $(CONF_DEST) ]; then \
		install -m 0644 $(B)/coapd.conf.install $(CONF_DEST).new; \
		echo "install: $(CONF_DEST) exists and is kept;" \
		    "the new one is $(CONF_DEST).new"; \
	else \
		install -m 0644 $(B)/coapd.conf.install $(CONF_DEST); \
		echo "install: installed $(CONF_DEST)"; \
	fi
	@for m in man/*.[0-9]; do [ -f $$m ] || continue; s=$${m##*.}; set -x; \
		install -D -m 0644 $$m $(DESTDIR)$(mandir)/man$$s/$${m##*/}; \
		{ set +x; } 2>/dev/null; done
	install -D -m 0644 systemd/60-coapd.conf \
		$(DESTDIR)$(sysctldir)/60-coapd.conf
	install -d $(DESTDIR)$(unitdir)
	@for u in systemd/*.service; do [ -f $$u ] || continue; \
		sed -e 's|/usr/local/sbin|$(sbindir)|g' \
		    -e 's|/etc/coapd.conf|$(sysconfdir)/coapd.conf|g' $$u \
		    > $(DESTDIR)$(unitdir)/$${u##*/}; \
		chmod 0644 $(DESTDIR)$(unitdir)/$${u##*/}; done
	install -d -m 0750 $(DESTDIR)$(statedir)

# Removes what `make install` put there, except coapd.conf (the operator's,
# edited or not) and the state directory when it holds anything.
uninstall:
	rm -f $(DESTDIR)$(sbindir)/coapd $(DESTDIR)$(sbindir)/coapd-ctl \
	    $(DESTDIR)$(datadir)/bash-completion/completions/coapd-ctl
	rm -rf $(DESTDIR)$(datadir)/coapd
	rm -f $(CONF_DEST).new $(DESTDIR)$(sysctldir)/60-coapd.conf
	@for m in man/*.[0-9]; do [ -f $$m ] || continue; s=$${m##*.}; \
		rm -f $(DESTDIR)$(mandir)/man$$s/$${m##*/}; done
	@for u in systemd/*.service; do [ -f $$u ] || continue; \
		rm -f $(DESTDIR)$(unitdir)/$${u##*/}; done
	-rmdir $(DESTDIR)$(statedir)/upload $(DESTDIR)$(statedir) 2>/dev/null
	@[ ! -e $(CONF_DEST) ] || \
		echo "uninstall: $(CONF_DEST) is kept; remove it by hand"

clean:
	rm -rf $(B)

-include $(wildcard $(B)/*.d $(B)/fz/*.d)
