# SPDX-License-Identifier: GPL-2.0-only
# The build of aufs.ko for one kernel, as DKMS runs it in its copy of
# /usr/src/aufs-<version>/ (see dkms.conf):
#
#   make -f dkms.mk KVER=<release> KDIR=<kernel build tree>
#
# Kept apart from the repository's Makefile (which builds for the developer's
# kernels and runs the tests) so that DKMS depends only on rust-kobj.sh's
# interface and kmod/Kbuild.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
TOP  := $(CURDIR)
RUST_OBJ := $(TOP)/build/aufs_rust.o

# Debian's cargo and rustc, whatever PATH the caller had (dpkg from a
# shell whose PATH starts with a rustup toolchain, which cannot build the
# kernel object); cargo's home inside the build tree, offline: everything
# the build needs is in this directory.
export PATH := /usr/sbin:/usr/bin:/sbin:/bin
export CARGO_HOME := $(TOP)/build/cargo-home
export CARGO_NET_OFFLINE := true
unexport RUSTC RUSTC_WRAPPER RUSTFLAGS RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET KRUSTC

.PHONY: all clean check-abi

all: kmod/aufs.ko

# The prebuilt bindings are only valid for the header they were made from.
check-abi:
	@sha256sum --quiet -c prebuilt/aufs_abi.h.sha256 || \
	  { echo "dkms.mk: kmod/aufs_abi.h changed since prebuilt/abi.rs was generated" >&2; exit 1; }

# `+`: cargo takes its jobs from make's jobserver (DKMS runs make -jN).
$(RUST_OBJ): check-abi
	@mkdir -p $(dir $@)
	+scripts/rust-kobj.sh $(KVER) $@ $(KDIR)

kmod/aufs.ko: $(RUST_OBJ)
	$(MAKE) -C $(KDIR) M=$(TOP)/kmod AU_RUST_OBJ=$(RUST_OBJ) AU_TOP=$(TOP) modules

# DKMS builds in a fresh copy of the source; this is for a build by hand.
clean:
	rm -rf build
	cd kmod && rm -f *.o *.ko *.mod *.mod.c .*.cmd Module.symvers modules.order
