// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ABI layout table as the C compiler sees it.  Compiled twice: into the
 * module (checked against the Rust core at load time) and on the host by
 * build.rs (checked by `cargo test`).
 */
#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif
#include "aufs_abi.h"

#define AU_LAYOUT_ENTRY(v) (__u64)(v),
static const __u64 au_c_layout[AU_ABI_LAYOUT_LEN] = { AU_ABI_LAYOUT(AU_LAYOUT_ENTRY) };

/* Declared here too: module.c is its only caller (no header of its own). */
const __u64 *au_c_abi_layout(void);

const __u64 *au_c_abi_layout(void)
{
	return au_c_layout;
}
