# aufs with a Rust core: build, test, demo, bench.
#
#   make            build aufs.ko and the aubr tool
#   make test       host tests + the VM suite + the Docker test (installs what is missing)
#   make demo       boot the VM and replay the seed experiment
#   make bench      aufs vs overlayfs vs the bare branch, tmpfs and ext4, in one
#                   VM run (QUICK=1: every workload once, tiny); build/bench/
#   make test-docker Docker 20.10's aufs storage driver end to end, in one VM run
#   make test-debug the VM suite on a debug kernel (lockdep, KASAN, kmemleak)
#
# Set-up (apt packages, virtme-ng) is done by scripts/setup.sh, idempotently.

MAKEFLAGS += --no-print-directory

TOP     := $(CURDIR)
BUILD   := $(TOP)/build
KVER     = $(shell $(TOP)/scripts/kver.sh)
KDIR     = /lib/modules/$(KVER)/build
RUST_OBJ := $(BUILD)/aufs_rust.o
BENCHOPS := $(BUILD)/bench/benchops
KO      := $(TOP)/kmod/aufs.ko
AUBR    := $(TOP)/target/release/aubr
RUST_SRC := $(wildcard src/*.rs src/*/*.rs) build.rs Cargo.toml kmod/aufs_abi.h \
            scripts/kernel-rustflags scripts/compiler_builtins.rs
C_SRC   := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild


.PHONY: all setup module tool difftest selftests test test-host test-vm demo bench clean check-module test-debug

all: module tool

setup:
	@$(TOP)/scripts/setup.sh

$(RUST_OBJ): $(RUST_SRC)
	@mkdir -p $(BUILD)
	$(TOP)/scripts/rust-kobj.sh $(KVER) $@

$(KO): $(RUST_OBJ) $(C_SRC)
	$(MAKE) -C $(KDIR) M=$(TOP)/kmod AU_RUST_OBJ=$(RUST_OBJ) modules
	@$(MAKE) --no-print-directory check-module

module: $(KO)

# No SSE/AVX in the module: the kernel does not save those registers for us.
check-module:
	@n=$$(objdump -d $(KO) | grep -cE '%[xyz]mm[0-9]' || true); \
	if [ "$$n" != 0 ]; then echo "aufs.ko: $$n SIMD instructions" >&2; exit 1; fi
	@modinfo $(KO) | grep -E '^(license|description|version|vermagic):'

tool:
	cargo build --release -p aufs-sysfs-tools

difftest:
	cargo build --release -p aufs-difftest

selftests:
	$(MAKE) -C tests/selftests

test-host:
	cargo test --workspace

# One VM boot runs every selftest program and the differential tester.
test-vm: module tool selftests difftest $(BENCHOPS)
	$(TOP)/scripts/vm-run.sh --timeout 3000 -- $(TOP)/tests/vm/guest-suite.sh $(TOP)

test: setup
	$(MAKE) test-host
	$(MAKE) test-vm
	$(MAKE) test-docker

# The same VM suite on a debug kernel (lockdep, KASAN, kmemleak, ...) built
# from Debian's linux-source once, cached in /var/cache/aufs-debug-kernel/;
# the module is built in build/debug/.  Slow; not part of `make test`.
test-debug: setup tool selftests difftest $(BENCHOPS)
	$(TOP)/scripts/test-debug.sh

demo: setup module tool
	$(TOP)/scripts/vm-run.sh -- $(TOP)/tests/vm/demo.sh $(TOP)

# Table on the terminal; JSON, CSV, Markdown and PNG in build/bench/ (QUICK=1:
# build/bench/quick/).  BENCH_* variables set the sizes (tests/vm/bench.py).
bench: setup module $(BENCHOPS)
	$(TOP)/tests/bench/run.sh $(if $(filter-out 0,$(QUICK)),--quick)

# The benchmark's system-call loops (tests/vm/t_bench_quick.sh in the VM
# suite uses it too; bench.py compiles it in the guest when it is missing).
$(BENCHOPS): tests/bench/benchops.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -o $@ $<

# Docker's own aufs storage driver end to end (Debian's docker.io 20.10,
# containerd, runc: unpacked into build/docker-root by docker-setup.sh, not
# installed, no service started on this machine); one VM boot.
.PHONY: test-docker
test-docker: setup module tool
	$(TOP)/scripts/docker-setup.sh
	$(TOP)/tests/docker/run.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP)/kmod clean 2>/dev/null
	rm -rf $(BUILD)/kernel-target $(BUILD)/selftests $(RUST_OBJ) kmod/rust.o
	cargo clean
