# The two commands of the README. Both install what is missing (Debian 12, as
# root or with sudo), configure and build in build/, then run.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# With ccache installed, builds key on paths relative to this checkout and not
# on the build folder's own path, so a fresh clone in any folder (CI's) reuses
# what an earlier build compiled; system headers stay absolute paths.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

APT_PACKAGES = build-essential cmake ninja-build pkg-config libeigen3-dev libtbb-dev libboost-dev \
  libboost-program-options-dev libboost-filesystem-dev libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-pthread-dev libsqlite3-dev \
  libopenmpi-dev openmpi-bin chromium python3-torch pybind11-dev python3-dev python3-numpy python3-matplotlib
# (chromium: the ReportBrowser tests open `gradlab report`'s HTML in it, headless.
# python3-torch: tests/recurrent/torch_compat_test.cpp checks the rnn and lstm
# layers against torch.nn.RNN / nn.LSTM with /usr/bin/python3, and fails without it.)
# pybind11-dev, python3-dev, python3-numpy: the Python module (python/, docs/python.md);
# python3-matplotlib: only for the README's plotting example.
# `make bench` also needs the peer: PyTorch, on OpenBLAS (Debian's python3-torch
# alone gets the netlib reference BLAS, 10-20x slower), and numpy for the
# machine's single-core SGEMM rate.
BENCH_PACKAGES = python3-torch libopenblas0-pthread python3-numpy

# What the sanitizer, clang and fuzz targets need on top (clang 14, its
# sanitizer runtimes and libFuzzer, llvm-symbolizer for readable stacks).
TOOLS_APT_PACKAGES = clang-14 libclang-rt-14-dev llvm-14

.PHONY: all deps bench-deps tools-deps install-packages build test demo bench clean \
  test-asan test-tsan test-clang fuzz fuzz-build

all: build

# Installs only what is missing, so a prepared machine does not touch apt at all.
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"

tools-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TOOLS_APT_PACKAGES)"

install-packages:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target runtime
	./examples/demo.sh $(BUILD)

bench: build bench-deps
	./bench/compare_pytorch.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(CLANG_BUILD) $(FUZZ_BUILD)

# ---------------------------------------------------------------------------
# Sanitizers, clang, fuzzing. Each has its own build folder (the plugin ABI
# tag names the compiler, and sanitized plugins need a sanitized host), so
# they never mix with build/.
CLANG ?= clang++-14
CCACHE_FLAG = $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
LLVM_SYMBOLIZER ?= $(firstword $(wildcard /usr/lib/llvm-14/bin/llvm-symbolizer) llvm-symbolizer)

# ASan + UBSan (GCC), -O1 with line tables (-g1: file:line in every stack,
# and less to compile and link than full -g): a build not much slower than the
# release one. Benchmarks and the in-tree example
# builds are left out (the Install tests build the examples from source).
ASAN_BUILD ?= build-asan
# detect_leaks=1: a leak is a defect like any other, and every test process
# (the test executable, the CLI it runs, the out-of-tree examples) ends through
# a normal exit, so LeakSanitizer sees only real leaks: loaded plugins are
# never unloaded but stay reachable through the registry's handles.
# halt_on_error / -fno-sanitize-recover: the first report fails the test.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
$(ASAN_BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
	  -DGRADLAB_SANITIZE=address,undefined -DGRADLAB_BUILD_BENCH=OFF -DGRADLAB_BUILD_EXAMPLES=OFF $(CCACHE_FLAG) $(CMAKE_FLAGS)

test-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer (GCC) over the tests that run threads: Concurrency.*.
TSAN_BUILD ?= build-tsan
TSAN_TESTS ?= ^Concurrency\.
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp
$(TSAN_BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" \
	  -DGRADLAB_SANITIZE=thread -DGRADLAB_BUILD_BENCH=OFF -DGRADLAB_BUILD_EXAMPLES=OFF $(CCACHE_FLAG) $(CMAKE_FLAGS)

test-tsan: deps $(TSAN_BUILD)/build.ninja
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target gradlab_tests
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

# Everything built with clang 14 (release flags, as `make test`), then the whole suite.
CLANG_BUILD ?= build-clang
$(CLANG_BUILD)/build.ninja: CMakeLists.txt | tools-deps
	cmake -S . -B $(CLANG_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(CLANG) $(CCACHE_FLAG) $(CMAKE_FLAGS)

test-clang: tools-deps $(CLANG_BUILD)/build.ninja
	cmake --build $(CLANG_BUILD) -j $(JOBS)
	cd $(CLANG_BUILD) && ctest --output-on-failure -j $(JOBS)

# libFuzzer harnesses (tests/fuzz), clang with ASan + UBSan, each run for
# FUZZ_SECONDS from a scratch copy of its seed corpus and its regression inputs
# (tests/fuzz/run.sh). Fails when any target finds something; the reproducer
# lands in $(FUZZ_BUILD)/fuzz-artifacts/<target>/.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= spec idx csv safetensors
$(FUZZ_BUILD)/build.ninja: CMakeLists.txt | tools-deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
	  -DCMAKE_CXX_COMPILER=$(CLANG) -DGRADLAB_FUZZ=ON -DGRADLAB_BUILD_TESTS=OFF -DGRADLAB_BUILD_BENCH=OFF \
	  -DGRADLAB_BUILD_EXAMPLES=OFF $(CCACHE_FLAG) $(CMAKE_FLAGS)

fuzz-build: tools-deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets

fuzz: fuzz-build
	LLVM_SYMBOLIZER=$(LLVM_SYMBOLIZER) ./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
