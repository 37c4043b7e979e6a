# aufs with a Rust core: build, test, demo, bench.
#
#   make            build aufs.ko for every installed kernel, and the tools (aubr, auplink, auchk)
#   make KVER=R     the same for kernel release R only (any target)
#   make test       host tests + the VM suite on every installed kernel + the
#                   Docker test (installs what is missing, both kernels included)
#   make demo       boot the VM and replay the seed experiment
#   make bench      aufs vs overlayfs vs the bare branch, tmpfs and ext4, in one
#                   VM run (QUICK=1: every workload once, tiny); build/bench/
#   make test-docker Docker 20.10's aufs storage driver end to end, in one VM run
#   make test-debug the VM suite on a debug kernel (lockdep, KASAN, kmemleak)
#   make install    module (per kernel built for), aubr/auplink/auchk, man pages; make uninstall
#   make deb        aufs-dkms and aufs-tools in build/deb/; make test-packaging
#
# Set-up (apt packages, virtme-ng) is done by scripts/setup.sh, idempotently.

MAKEFLAGS += --no-print-directory

TOP     := $(CURDIR)
BUILD   := $(TOP)/build
# The kernels to build for: KVER=<release> names one, otherwise every kernel
# with image and headers installed (scripts/kver.sh).  Per kernel, Kbuild runs
# in build/kmod/<release>/ (symbolic links to kmod/'s sources), next to the
# Rust object built for that kernel's configuration:
#   build/kmod/<release>/aufs_rust.o, build/kmod/<release>/aufs.ko
KVERS   := $(if $(KVER),$(KVER),$(shell $(TOP)/scripts/kver.sh 2>/dev/null))
KMODDIR := $(BUILD)/kmod
KOS     := $(foreach k,$(KVERS),$(KMODDIR)/$(k)/aufs.ko)
BENCHOPS := $(BUILD)/bench/benchops
AUBR    := $(TOP)/target/release/aubr
RUST_SRC := $(wildcard src/*.rs src/*/*.rs) build.rs Cargo.toml kmod/aufs_abi.h \
            scripts/compiler_builtins.rs scripts/build-sysroot.sh scripts/rust-kobj.sh \
            scripts/kconfig.sh scripts/kernel-rustflags.sh scripts/kernel-objtool.sh \
            scripts/check-endbr.sh
C_SRC   := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild


.PRECIOUS: $(KMODDIR)/%/aufs_rust.o

.PHONY: all setup module tool difftest selftests test test-host test-vm demo bench clean check-module test-debug
.PHONY: man check-man install uninstall deb test-packaging

all: module tool

setup:
	@$(TOP)/scripts/setup.sh

$(KMODDIR)/%/aufs_rust.o: $(RUST_SRC)
	@mkdir -p $(@D)
	$(TOP)/scripts/rust-kobj.sh $* $@

# The Kbuild directory of one kernel mirrors kmod/ with symbolic links; a
# link whose source left kmod/ goes, with its object.
$(KMODDIR)/%/aufs.ko: $(KMODDIR)/%/aufs_rust.o $(C_SRC)
	@cd $(@D) && for f in *.c *.h; do \
	    if [ -L "$$f" ] && [ ! -e "$$f" ]; then rm -f "$$f" "$${f%.c}.o"; fi; \
	done; ln -sf $(TOP)/kmod/*.c $(TOP)/kmod/*.h $(TOP)/kmod/Kbuild .
	$(MAKE) -C /lib/modules/$*/build M=$(@D) AU_RUST_OBJ=$< modules
	@$(MAKE) check-module KVER=$*

module: $(KOS)
	@[ -n "$(KVERS)" ] || { echo "make: no kernel with image and headers installed (make setup)" >&2; exit 1; }

# No SSE/AVX in the module: the kernel does not save those registers for us.
# And the module is the one for that kernel.
check-module:
	@ko=$(KMODDIR)/$(KVER)/aufs.ko; \
	n=$$(objdump -d $$ko | grep -cE '%[xyz]mm[0-9]' || true); \
	if [ "$$n" != 0 ]; then echo "$$ko: $$n SIMD instructions" >&2; exit 1; fi; \
	modinfo -F vermagic $$ko | grep -q '^$(KVER) ' || { echo "$$ko: not built for $(KVER)" >&2; exit 1; }; \
	echo "$$ko:"; modinfo $$ko | grep -E '^(license|version|vermagic):'

tool:
	cargo build --release -p aufs-sysfs-tools

difftest:
	cargo build --release -p aufs-difftest

selftests:
	$(MAKE) -C tests/selftests

test-host:
	cargo test --workspace
	$(TOP)/tests/build/run.sh

# One VM boot per kernel runs every selftest program and the differential tester.
test-vm: module tool selftests difftest $(BENCHOPS)
	@rc=0; for k in $(KVERS); do \
	    echo "=== test-vm: kernel $$k ==="; \
	    $(TOP)/scripts/vm-run.sh --kver $$k --timeout 3000 -- $(TOP)/tests/vm/guest-suite.sh $(TOP) || rc=1; \
	done; exit $$rc

# Everything, on every installed kernel (KVER=R: on R only), one tally at the
# end (scripts/test.sh says what runs where).
test: setup
	$(TOP)/scripts/test.sh

# The same VM suite on a debug kernel (lockdep, KASAN, kmemleak, ...) built
# from Debian's linux-source once, cached in /var/cache/aufs-debug-kernel/;
# the module is built in build/debug/.  Slow; not part of `make test`.
test-debug: setup tool selftests difftest $(BENCHOPS)
	$(TOP)/scripts/test-debug.sh

# Single-kernel targets (demo, bench, test-docker) use KVER, by default the
# newest installed kernel.
KVER1 = $(if $(KVER),$(KVER),$(shell $(TOP)/scripts/kver.sh --default))

demo: setup
	$(MAKE) KVER=$(KVER1) module tool
	$(TOP)/scripts/vm-run.sh --kver $(KVER1) -- $(TOP)/tests/vm/demo.sh $(TOP)

# Table on the terminal; JSON, CSV, Markdown and PNG in build/bench/ (QUICK=1:
# build/bench/quick/).  BENCH_* variables set the sizes (tests/vm/bench.py).
bench: setup $(BENCHOPS)
	$(MAKE) KVER=$(KVER1) module
	KVER=$(KVER1) $(TOP)/tests/bench/run.sh $(if $(filter-out 0,$(QUICK)),--quick)

# The benchmark's system-call loops (tests/vm/t_bench_quick.sh in the VM
# suite uses it too; bench.py compiles it in the guest when it is missing).
$(BENCHOPS): tests/bench/benchops.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -o $@ $<

# Docker's own aufs storage driver end to end (Debian's docker.io 20.10,
# containerd, runc: unpacked into build/docker-root by docker-setup.sh, not
# installed, no service started on this machine); one VM boot.
.PHONY: test-docker
test-docker: setup
	$(MAKE) KVER=$(KVER1) module tool
	$(TOP)/scripts/docker-setup.sh
	KVER=$(KVER1) $(TOP)/tests/docker/run.sh

# Man pages: docs/man/*.md, aufs(5) with the README's "Using it" and
# "Deliberate differences" sections (the text is only there).
VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(TOP)/Cargo.toml | head -n 1)
MANDATE  = $(shell date -u -d "$$(sed -n 's/^ -- .*>  //p' $(TOP)/packaging/changelog | head -n 1)" +%Y-%m-%d)
MANPAGES := $(BUILD)/man/aufs.5 $(BUILD)/man/aubr.8 $(BUILD)/man/auplink.8 $(BUILD)/man/auchk.8

man: $(MANPAGES)

$(BUILD)/man/%: docs/man/%.md docs/man/md2man.py README.md Cargo.toml packaging/changelog
	@mkdir -p $(dir $@)
	python3 docs/man/md2man.py $< $(VERSION) $(MANDATE) > $@.tmp && mv $@.tmp $@

check-man: man tool
	$(TOP)/tests/packaging/check-man.sh $(BUILD)/man $(AUBR) $(dir $(AUBR))

# Installed as an out-of-tree module is: aufs.ko of every kernel it was built
# for in /lib/modules/<release>/updates (then depmod), aubr and the man pages
# under $(prefix).  Builds nothing: `make && make install`.
prefix ?= /usr/local
install uninstall: man
	DESTDIR="$(DESTDIR)" prefix="$(prefix)" $(TOP)/packaging/install.sh $@

# Two Debian packages, from a staged tree (packaging/build-debs.sh).
deb: man tool
	$(TOP)/packaging/build-debs.sh $(BUILD)/deb

# Install both packages (DKMS builds the module for each installed kernel),
# modprobe/mount/aubr in one VM per kernel, remove and purge them (root).
test-packaging: setup
	$(MAKE) deb
	$(TOP)/tests/packaging/run.sh

clean:
	rm -rf $(BUILD)/kernel-target $(BUILD)/selftests $(KMODDIR)
	cargo clean
