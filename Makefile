# The two commands of the README. Both install what is missing (Debian 12, as
# root or with sudo), configure and build in build/, then run.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

APT_PACKAGES = build-essential cmake ninja-build pkg-config libeigen3-dev libtbb-dev libboost-dev \
  libboost-program-options-dev libboost-filesystem-dev libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-serial-dev libsqlite3-dev
# `make bench` also needs the peer: PyTorch, on OpenBLAS (Debian's python3-torch
# alone gets the netlib reference BLAS, 10-20x slower), and numpy for the
# machine's single-core SGEMM rate.
BENCH_PACKAGES = python3-torch libopenblas0-pthread python3-numpy

.PHONY: all deps bench-deps install-packages build test demo bench clean

all: build

# Installs only what is missing, so a prepared machine does not touch apt at all.
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"

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
	rm -rf $(BUILD)
