# The front door. On a fresh Debian 12 machine, as root:
#   make demo   installs what is missing, builds, runs `fsctl demo`
#   make test   installs what is missing, builds, runs every test through ctest
# Under CI (CI=true) warnings are errors.

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
ifneq ($(filter true 1 yes,$(CI)),)
WERROR   ?= ON
else
WERROR   ?= OFF
endif
CMAKE_FLAGS ?=

.PHONY: all deps configure build demo test test-sanitize test-valgrind install format clean

all: build

deps:
	@bash scripts/deps.sh

configure: deps
	@$(CMAKE) -S . -B $(BUILD) -DLIBFS_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/fsctl demo

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The whole suite once more with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize:
	@$(MAKE) --no-print-directory test BUILD=$(BUILD)-asan \
		CMAKE_FLAGS="$(CMAKE_FLAGS) -DLIBFS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

# Every unit test program and the conformance suite under valgrind memcheck.
test-valgrind: build
	bash scripts/valgrind.sh $(BUILD)

install: build
	$(CMAKE) --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan
