// SPDX-License-Identifier: GPL-2.0-only
/*
 * aufs: /sys/fs/aufs.  config, and per mount si_<id>/ with br<N>, brid<N>
 * and xi_path.  The texts come from the core; this file only owns the
 * kobjects and attributes.
 */
#define pr_fmt(fmt) "aufs: " fmt

#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include "aufs.h"

static struct kobject *au_kobj;

static ssize_t config_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return au_rs_sysfs_config(buf, PAGE_SIZE);
}

static struct kobj_attribute au_config_attr = __ATTR_RO(config);

int au_sysfs_init(void)
{
	int err;

	au_kobj = kobject_create_and_add(AUFS_NAME, fs_kobj);
	if (!au_kobj)
		return -ENOMEM;
	err = sysfs_create_file(au_kobj, &au_config_attr.attr);
	if (err)
		kobject_put(au_kobj);
	return err;
}

void au_sysfs_fin(void)
{
	kobject_put(au_kobj);
}

/* ---- si_<id> ---- */

static struct attribute au_xi_path_attr = { .name = "xi_path", .mode = 0444 };

static struct attribute *au_si_default_attrs[] = {
	&au_xi_path_attr,
	NULL,
};
ATTRIBUTE_GROUPS(au_si_default);

/*
 * Texts of the current branch set.  A file of a branch that a remount
 * removed this moment reads as gone (ENOENT) until the files are rebuilt.
 */
static ssize_t au_si_show(struct kobject *kobj, struct attribute *attr, char *buf)
{
	struct au_sbinfo *si = container_of(kobj, struct au_sbinfo, kobj);
	struct au_brset *brs = au_brs_get(si);
	unsigned int n = READ_ONCE(si->nattr);
	ssize_t ret = -ENOENT;
	ptrdiff_t i;

	if (attr == &au_xi_path_attr) {
		ret = au_rs_sysfs_xi_path(brs->rs, buf, PAGE_SIZE);
	} else if (si->br_attrs && attr >= si->br_attrs && attr < si->br_attrs + 2 * n) {
		i = attr - si->br_attrs;
		if (i < n)
			ret = au_rs_sysfs_br(brs->rs, i, buf, PAGE_SIZE);
		else
			ret = au_rs_sysfs_brid(brs->rs, i - n, buf, PAGE_SIZE);
	}
	au_brs_put(brs);
	return ret;
}

static const struct sysfs_ops au_si_ops = {
	.show = au_si_show,
};

static void au_free_attrs(struct attribute *attrs, char **names, unsigned int n)
{
	unsigned int i;

	if (names)
		for (i = 0; i < 2 * n; i++)
			kfree(names[i]);
	kfree(names);
	kfree(attrs);
}

static void au_si_free_attrs(struct au_sbinfo *si)
{
	au_free_attrs(si->br_attrs, si->br_attr_names, si->nattr);
	si->br_attr_names = NULL;
	si->br_attrs = NULL;
	si->nattr = 0;
}

/* Last reference to the mount's info: everything goes. */
static void au_si_release(struct kobject *kobj)
{
	struct au_sbinfo *si = container_of(kobj, struct au_sbinfo, kobj);

	au_si_free_attrs(si);
	if (rcu_access_pointer(si->brs))
		au_brs_put(rcu_dereference_protected(si->brs, 1));
	au_rs_xino_free(si->xino);
	if (si->cred)
		put_cred(si->cred);
	kfree(si);
}

static struct kobj_type au_si_ktype = {
	.release	= au_si_release,
	.sysfs_ops	= &au_si_ops,
	.default_groups	= au_si_default_groups,
};

void au_si_init_kobj(struct au_sbinfo *si)
{
	kobject_init(&si->kobj, &au_si_ktype);
}

void au_si_put(struct au_sbinfo *si)
{
	kobject_put(&si->kobj);
}

/*
 * debugfs aufs/si_<id>/xino_entries: entries in the inode number table;
 * fs_marks: the branch filesystems whose changes are counted (notify.c).
 */
static int au_xino_entries_show(struct seq_file *m, void *v)
{
	struct au_sbinfo *si = m->private;
	unsigned int nofs;

	nofs = au_xino_lock(si);
	seq_printf(m, "%llu\n", au_rs_xino_len(si->xino));
	au_xino_unlock(si, nofs);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(au_xino_entries);

static void au_debugfs_add(struct au_sbinfo *si)
{
	char name[32];

	if (IS_ERR_OR_NULL(au_debugfs))
		return;
	snprintf(name, sizeof(name), "si_%lx", si->id);
	si->dbg = debugfs_create_dir(name, au_debugfs);
	debugfs_create_file("xino_entries", 0400, si->dbg, si, &au_xino_entries_fops);
	/* branch filesystems whose changes udba=reval counts (notify.c) */
	debugfs_create_atomic_t("fs_marks", 0400, si->dbg, &si->nsbmarks);
}

/* Attributes br0.. brid0.. for @n branches. */
static int au_make_attrs(unsigned int n, struct attribute **pattrs, char ***pnames)
{
	struct attribute *attrs = kcalloc(2 * n, sizeof(*attrs), GFP_KERNEL);
	char **names = kcalloc(2 * n, sizeof(*names), GFP_KERNEL);
	unsigned int i;

	if (!attrs || !names)
		goto nomem;
	for (i = 0; i < 2 * n; i++) {
		names[i] = i < n ? kasprintf(GFP_KERNEL, "br%u", i) :
				   kasprintf(GFP_KERNEL, "brid%u", i - n);
		if (!names[i])
			goto nomem;
		sysfs_attr_init(&attrs[i]);
		attrs[i].name = names[i];
		attrs[i].mode = 0444;
	}
	*pattrs = attrs;
	*pnames = names;
	return 0;
nomem:
	au_free_attrs(attrs, names, n);
	return -ENOMEM;
}

static int au_create_attrs(struct au_sbinfo *si)
{
	unsigned int i;
	int err;

	for (i = 0; i < 2 * si->nattr; i++) {
		err = sysfs_create_file(&si->kobj, &si->br_attrs[i]);
		if (err)
			return err;
	}
	return 0;
}

int au_sysfs_add(struct au_sbinfo *si)
{
	struct au_brset *brs = au_brs_get(si);
	unsigned int n = brs->nbr;
	int err;

	au_brs_put(brs);
	err = au_make_attrs(n, &si->br_attrs, &si->br_attr_names);
	if (err)
		return err;
	si->nattr = n;
	err = kobject_add(&si->kobj, au_kobj, "si_%lx", si->id);
	if (err)
		return err;
	si->kobj_added = true;
	err = au_create_attrs(si);
	if (err)
		return err;
	au_debugfs_add(si);
	return 0;
}

/*
 * After a remount changed the branches: br<N> and brid<N> again, for the
 * current set (aufs re-creates them too).  Called under the remount's
 * exclusion, so only readers run concurrently.
 */
int au_sysfs_refresh(struct au_sbinfo *si)
{
	struct au_brset *brs = au_brs_get(si);
	struct attribute *attrs, *old_attrs = si->br_attrs;
	char **names, **old_names = si->br_attr_names;
	unsigned int i, n = brs->nbr, old_n = si->nattr;
	int err;

	au_brs_put(brs);
	if (!si->kobj_added)
		return 0;
	err = au_make_attrs(n, &attrs, &names);
	if (err)
		return err;
	for (i = 0; i < 2 * old_n; i++)
		sysfs_remove_file(&si->kobj, &old_attrs[i]);	/* waits for readers */
	WRITE_ONCE(si->nattr, 0);
	si->br_attrs = attrs;
	si->br_attr_names = names;
	WRITE_ONCE(si->nattr, n);
	au_free_attrs(old_attrs, old_names, old_n);
	return au_create_attrs(si);
}

void au_sysfs_del(struct au_sbinfo *si)
{
	debugfs_remove(si->dbg);
	si->dbg = NULL;
	/* Removal waits for readers in progress; none can start afterwards. */
	if (si->kobj_added)
		kobject_del(&si->kobj);
	si->kobj_added = false;
}
