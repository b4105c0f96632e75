# pepsal: a split-TCP Performance Enhancing Proxy.  `make help` lists the targets.

PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system

CXX      ?= g++
OPT      ?= -O2 -g
CXXFLAGS ?= $(OPT)
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -MMD -MP -Icommon -Iproxy -Iqueuer -Iconnmgr
LDFLAGS  ?=
LDLIBS   := -lnetfilter_queue -lnfnetlink -lboost_program_options -lsodium -lrt -pthread

BUILD ?= build

V ?= 0
ifeq ($(V),0)
Q = @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q =
say =
endif

# One static library per folder; each process's main only wires them together.
LIB_DIRS     := connmgr queuer proxy common
MAIN_SRC     := connmgr/main.cpp
lib_src       = $(filter-out $(MAIN_SRC),$(wildcard $(1)/*.cpp))
lib_a         = $(BUILD)/lib$(1).a
LIBS         := $(foreach d,$(LIB_DIRS),$(call lib_a,$(d)))

TEST_SRC     := $(wildcard test/*.cpp)
TOOLS        := $(notdir $(patsubst %/,%,$(dir $(wildcard test/tools/*/main.cpp))))
TOOL_BINS    := $(addprefix $(BUILD)/,$(TOOLS))

obj = $(patsubst %.cpp,$(BUILD)/%.o,$(1))
ALL_OBJ := $(call obj,$(MAIN_SRC) $(TEST_SRC) $(foreach d,$(LIB_DIRS),$(call lib_src,$(d))) \
             $(wildcard test/tools/*/*.cpp))

.PHONY: all check unit integration fuzz asan install uninstall clean deps demo bench help
all: $(BUILD)/pepsal $(BUILD)/pepsal-tests $(TOOL_BINS)

$(BUILD)/%.o: %.cpp
	$(call say,CXX,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(CXXFLAGS) -c -o $@ $<

define LIB_RULE
$(call lib_a,$(1)): $(call obj,$(call lib_src,$(1)))
	$$(call say,AR,$$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIB_DIRS),$(eval $(call LIB_RULE,$(d))))

$(BUILD)/pepsal: $(call obj,$(MAIN_SRC)) $(LIBS)
	$(call say,LINK,$@)
	$(Q)$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/pepsal-tests: $(call obj,$(TEST_SRC)) $(LIBS)
	$(call say,LINK,$@)
	$(Q)$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each test/tools/NAME/ folder is one helper program (link emulator, traffic tool) of the lab.
define TOOL_RULE
$(BUILD)/$(1): $(call obj,$(wildcard test/tools/$(1)/*.cpp)) $(LIBS)
	$$(call say,LINK,$$@)
	$(Q)$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call TOOL_RULE,$(t))))

-include $(ALL_OBJ:.o=.d)

# Installs the Debian packages the build, the tests and the lab need, only when one is missing.
deps:
	$(Q)test/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-30}
	$(Q)$(MAKE) --no-print-directory integration

unit: $(BUILD)/pepsal-tests
	$(Q)$(BUILD)/pepsal-tests

integration: all
	$(Q)test/run-integration.sh $(BUILD)

# libFuzzer targets, one per parser of outside bytes: test/fuzz/fuzz_NAME.cpp.
FUZZ_SECONDS ?= 30
FUZZ_SRC     := $(wildcard test/fuzz/fuzz_*.cpp)
FUZZ_BINS    := $(patsubst test/fuzz/%.cpp,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB_SRC := $(filter-out $(MAIN_SRC),$(wildcard common/*.cpp proxy/*.cpp))
FUZZ_FLAGS   := -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Icommon -Iproxy
FUZZ_OBJ     := $(patsubst %.cpp,$(BUILD)/fuzz/obj/%.o,$(FUZZ_LIB_SRC))
$(BUILD)/fuzz/obj/%.o: %.cpp
	$(call say,CLANG,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)clang++ $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/fuzz/%: test/fuzz/%.cpp $(FUZZ_OBJ)
	$(call say,FUZZ,$@)
	$(Q)clang++ $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJ) $(LDLIBS)
-include $(FUZZ_OBJ:.o=.d)
.SECONDARY: $(FUZZ_OBJ)
fuzz: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_BINS); do \
	  corpus=$(BUILD)/fuzz/corpus-$$(basename $$f); mkdir -p $$corpus; \
	  seeds=test/fuzz/seeds/$$(basename $$f); \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$corpus $$( [ -d $$seeds ] && echo $$seeds ) \
	    2>$(BUILD)/fuzz/$$(basename $$f).log || { tail -50 $(BUILD)/fuzz/$$(basename $$f).log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$(basename $$f).log; \
	done

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, in a build tree of their own.
asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -Wno-maybe-uninitialized" \
	  build/asan/pepsal-tests
	$(Q)ASAN_OPTIONS=detect_leaks=1 build/asan/pepsal-tests

demo: deps all
	$(Q)test/lab/demo.sh $(BUILD)

bench: deps all
	$(Q)test/bench/run.sh $(BUILD)

install: $(BUILD)/pepsal
	install -D -m 0755 $(BUILD)/pepsal $(DESTDIR)$(SBINDIR)/pepsal
	install -D -m 0755 etc/pepsal-firewall $(DESTDIR)$(SBINDIR)/pepsal-firewall
	install -D -m 0755 etc/init.d/pepsal $(DESTDIR)$(SYSCONFDIR)/init.d/pepsal
	install -D -m 0644 etc/pepsal.service $(DESTDIR)$(UNITDIR)/pepsal.service
	test -e $(DESTDIR)$(SYSCONFDIR)/pepsal.conf || \
	  install -D -m 0644 etc/pepsal.conf $(DESTDIR)$(SYSCONFDIR)/pepsal.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pepsal $(DESTDIR)$(SBINDIR)/pepsal-firewall \
	  $(DESTDIR)$(SYSCONFDIR)/init.d/pepsal $(DESTDIR)$(UNITDIR)/pepsal.service

clean:
	rm -rf $(BUILD) build

help:
	@echo "make            build build/pepsal, the unit tests and the lab tools"
	@echo "make check      install missing packages, unit + fuzz + integration tests (root)"
	@echo "make asan       unit tests under ASan/UBSan"
	@echo "make demo       satellite lab: download with and without pepsal (root)"
	@echo "make bench      benchmark matrix, CSV and plot (root)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"
