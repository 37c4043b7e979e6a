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

static ssize_t au_si_show(struct kobject *kobj, struct attribute *attr, char *buf)
{
	struct au_sbinfo *si = container_of(kobj, struct au_sbinfo, kobj);
	ptrdiff_t i;

	if (attr == &au_xi_path_attr)
		return au_rs_sysfs_xi_path(si->rs, buf, PAGE_SIZE);
	if (!si->br_attrs || attr < si->br_attrs || attr >= si->br_attrs + 2 * si->nbr)
		return -ENOENT;
	i = attr - si->br_attrs;
	if (i < si->nbr)
		return au_rs_sysfs_br(si->rs, i, buf, PAGE_SIZE);
	return au_rs_sysfs_brid(si->rs, i - si->nbr, buf, PAGE_SIZE);
}

static const struct sysfs_ops au_si_ops = {
	.show = au_si_show,
};

static void au_si_free_attrs(struct au_sbinfo *si)
{
	unsigned int i;

	if (si->br_attr_names)
		for (i = 0; i < 2 * si->nbr; i++)
			kfree(si->br_attr_names[i]);
	kfree(si->br_attr_names);
	kfree(si->br_attrs);
	si->br_attr_names = NULL;
	si->br_attrs = NULL;
}

/* Last reference to the mount's info: everything goes. */
static void au_si_release(struct kobject *kobj)
{
	struct au_sbinfo *si = container_of(kobj, struct au_sbinfo, kobj);
	unsigned int i;

	au_si_free_attrs(si);
	if (si->br)
		for (i = 0; i < si->nbr; i++)
			path_put(&si->br[i].path);
	kfree(si->br);
	au_rs_sb_free(si->rs);
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

/* debugfs aufs/si_<id>/xino_entries: entries in the inode number table. */
static int au_xino_entries_show(struct seq_file *m, void *v)
{
	struct au_sbinfo *si = m->private;

	mutex_lock(&si->xino_mtx);
	seq_printf(m, "%llu\n", au_rs_xino_len(si->xino));
	mutex_unlock(&si->xino_mtx);
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
}

int au_sysfs_add(struct au_sbinfo *si)
{
	unsigned int i, n = 2 * si->nbr;
	int err;

	si->br_attrs = kcalloc(n, sizeof(*si->br_attrs), GFP_KERNEL);
	si->br_attr_names = kcalloc(n, sizeof(*si->br_attr_names), GFP_KERNEL);
	if (!si->br_attrs || !si->br_attr_names)
		goto nomem;
	for (i = 0; i < n; i++) {
		si->br_attr_names[i] = i < si->nbr ?
			kasprintf(GFP_KERNEL, "br%u", i) :
			kasprintf(GFP_KERNEL, "brid%u", i - si->nbr);
		if (!si->br_attr_names[i])
			goto nomem;
		sysfs_attr_init(&si->br_attrs[i]);
		si->br_attrs[i].name = si->br_attr_names[i];
		si->br_attrs[i].mode = 0444;
	}

	err = kobject_add(&si->kobj, au_kobj, "si_%lx", si->id);
	if (err)
		return err;
	si->kobj_added = true;
	for (i = 0; i < n; i++) {
		err = sysfs_create_file(&si->kobj, &si->br_attrs[i]);
		if (err)
			return err;
	}
	au_debugfs_add(si);
	return 0;

nomem:
	au_si_free_attrs(si);
	return -ENOMEM;
}

void au_sysfs_del(struct au_sbinfo *si)
{
	/* Removal waits for readers in progress; none can start afterwards. */
	debugfs_remove(si->dbg);
	si->dbg = NULL;
	/* Removal waits for readers in progress; none can start afterwards. */
	if (si->kobj_added)
		kobject_del(&si->kobj);
	si->kobj_added = false;
}
