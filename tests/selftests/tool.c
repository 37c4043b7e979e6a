// SPDX-License-Identifier: GPL-2.0-only
/*
 * The aubr tool (target/release/aubr) against real aufs mounts:
 *
 *   aubr [--json] [MOUNTPOINT...]
 *
 * Table: per mount a header "<mountpoint> si=<si>" then one row per branch
 * "<index> <id> <perm> <path>" (whitespace separated; perm with attributes,
 * e.g. "ro+wh"; the path is the rest of the line).
 * JSON: an array of {"mountpoint","source","si","xino_path","branches":
 * [{"index","id","path","perm","attrs":[...],"writable"}]}, perm without
 * attributes.  Not an aufs mount: exit 1 and "aubr: <path>: not an aufs
 * mount" on stderr.  (Exit 2 without the module: see rmmod.c.)
 *
 * Expected values come from the mount options given here and from
 * /sys/fs/aufs (brid<N>, xi_path).  The tool path: $AUBR, else
 * $REPO/target/release/aubr, else ../../target/release/aubr from this binary.
 */
#include "aufs_test.h"

#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

/* ---------------- a minimal JSON reader ---------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype t;
	int b;
	double num;
	char *s;		/* J_STR */
	size_t n;		/* J_ARR / J_OBJ: count */
	struct jval **items;	/* J_ARR / J_OBJ values */
	char **keys;		/* J_OBJ keys */
};

static void jskip(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static struct jval *jnew(enum jtype t)
{
	struct jval *v = calloc(1, sizeof(*v));

	if (v)
		v->t = t;
	return v;
}

static void jput_utf8(char *out, size_t *o, unsigned int cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static int jhex4(const char *p, unsigned int *cp)
{
	unsigned int v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*cp = v;
	return 0;
}

/* A JSON string at *p (opening quote); returns a malloc'd UTF-8 string. */
static char *jstring(const char **p)
{
	const char *s = *p + 1;
	char *out = malloc(strlen(s) * 4 + 1);
	size_t o = 0;

	if (!out || **p != '"')
		goto bad;
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;

		if (c == '\0' || c < 0x20)
			goto bad;
		if (c != '\\') {
			out[o++] = (char)c;
			s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned int cp, lo;

			if (jhex4(s + 1, &cp))
				goto bad;
			s += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (s[1] != '\\' || s[2] != 'u' || jhex4(s + 3, &lo) ||
				    lo < 0xdc00 || lo >= 0xe000)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s += 6;
			}
			jput_utf8(out, &o, cp);
			break;
		}
		default:
			goto bad;
		}
		s++;
	}
	out[o] = '\0';
	*p = s + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static struct jval *jparse_value(const char **p, int depth);

static struct jval *jparse_container(const char **p, int depth, int is_obj)
{
	struct jval *v = jnew(is_obj ? J_OBJ : J_ARR);
	char close = is_obj ? '}' : ']';

	if (!v)
		return NULL;
	(*p)++;
	jskip(p);
	if (**p == close) {
		(*p)++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct jval *item;

		jskip(p);
		if (is_obj) {
			if (**p != '"')
				return NULL;
			key = jstring(p);
			if (!key)
				return NULL;
			jskip(p);
			if (**p != ':')
				return NULL;
			(*p)++;
		}
		item = jparse_value(p, depth + 1);
		if (!item)
			return NULL;
		v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
		v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
		if (!v->items || !v->keys)
			return NULL;
		v->items[v->n] = item;
		v->keys[v->n] = key;
		v->n++;
		jskip(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p == close) {
			(*p)++;
			return v;
		}
		return NULL;
	}
}

static struct jval *jparse_value(const char **p, int depth)
{
	struct jval *v;

	if (depth > 64)
		return NULL;
	jskip(p);
	switch (**p) {
	case '{':
		return jparse_container(p, depth, 1);
	case '[':
		return jparse_container(p, depth, 0);
	case '"':
		v = jnew(J_STR);
		if (v)
			v->s = jstring(p);
		return (v && v->s) ? v : NULL;
	case 't':
		if (strncmp(*p, "true", 4))
			return NULL;
		*p += 4;
		v = jnew(J_BOOL);
		if (v)
			v->b = 1;
		return v;
	case 'f':
		if (strncmp(*p, "false", 5))
			return NULL;
		*p += 5;
		return jnew(J_BOOL);
	case 'n':
		if (strncmp(*p, "null", 4))
			return NULL;
		*p += 4;
		return jnew(J_NULL);
	default: {
		char *end;

		if (**p != '-' && (**p < '0' || **p > '9'))
			return NULL;
		v = jnew(J_NUM);
		if (!v)
			return NULL;
		v->num = strtod(*p, &end);
		if (end == *p)
			return NULL;
		*p = end;
		return v;
	}
	}
}

/* The whole text must be one JSON value. */
static struct jval *jparse(const char *text)
{
	const char *p = text;
	struct jval *v = jparse_value(&p, 0);

	if (!v)
		return NULL;
	jskip(&p);
	return *p ? NULL : v;
}

static struct jval *jget(const struct jval *obj, const char *key)
{
	size_t i;

	if (!obj || obj->t != J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

/* ---------------- running aubr ---------------- */

struct run {
	int status;		/* exit status, or 128+signal */
	char out[262144];
	char err[16384];
};

static const char *aubr_path(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("AUBR");
	char exe[PATH_MAX];
	ssize_t n;

	if (e && *e)
		return e;
	e = getenv("REPO");
	if (e && *e && !pathf(path, "%s/target/release/aubr", e))
		return path;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (!pathf(path, "%s/../../target/release/aubr", exe))
			return path;
	}
	return "aubr";
}

static int slurp_fd(int fd, char *buf, size_t size)
{
	ssize_t n;
	size_t got = 0;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	return 0;
}

/* Run aubr with up to 4 arguments; NULL-terminated. */
static int run_aubr(struct run *r, const char *a0, const char *a1, const char *a2, const char *a3)
{
	const char *argv[6] = { "aubr", a0, a1, a2, a3, NULL };
	int ofd = memfd_create("aubr-out", MFD_CLOEXEC);
	int efd = memfd_create("aubr-err", MFD_CLOEXEC);
	pid_t pid;
	int st;

	if (ofd < 0 || efd < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		execv(aubr_path(), (char *const *)argv);
		dprintf(2, "exec %s: %s\n", aubr_path(), strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp_fd(ofd, r->out, sizeof(r->out));
	slurp_fd(efd, r->err, sizeof(r->err));
	close(ofd);
	close(efd);
	return 0;
}

/* ---------------- fixture: two aufs mounts ---------------- */

#define NBR 3

FIXTURE(tool) {
	char dir[PATH_MAX];
	char br[NBR][PATH_MAX];	/* top, "lower one", low2 */
	char other[PATH_MAX];	/* branch of the second mount */
	char mnt[PATH_MAX];
	char mnt2[PATH_MAX];
	char si[64], si2[64];
	struct au_union u;	/* br[] and mnt */
	int mounted2;
};

/* The options under test: perm (with attributes) of each branch. */
static const char *const br_perm[NBR] = { "rw", "ro+wh", "ro" };
static const char *const br_base_perm[NBR] = { "rw", "ro", "ro" };
static const char *const br_attr[NBR] = { NULL, "wh", NULL };

FIXTURE_SETUP(tool)
{
	struct stat st;

	self->u = (struct au_union){
		.tag = "tool", .dir = self->dir, .mnt = self->mnt,
		.br = { { "top", self->br[0] }, { "lower one", self->br[1] }, { "low2", self->br[2] } },
	};
	ASSERT_EQ(0, stat(aubr_path(), &st)) TH_LOG("aubr not found at %s", aubr_path());
	ASSERT_EQ(0, union_setup(&self->u)) TH_LOG("%s", self->u.err);
	ASSERT_EQ(0, make_dir(self->other, self->dir, "other"));
	ASSERT_EQ(0, make_dir(self->mnt2, self->dir, "mnt2"));
	ASSERT_EQ(0, union_mount(&self->u, 0, "br=%s=%s:%s=%s:%s=%s", self->br[0], br_perm[0],
				 self->br[1], br_perm[1], self->br[2], br_perm[2]))
		TH_LOG("mount -o '%s': %s", self->u.data, strerror(errno));
	ASSERT_EQ(0, mount_si(self->mnt, self->si, sizeof(self->si)));
}

FIXTURE_TEARDOWN(tool)
{
	if (self->mounted2)
		TEARDOWN_UMOUNT(self->mnt2);
	UNION_TEARDOWN(&self->u, 0);
}

static void mount_second(struct __test_metadata *_metadata, FIXTURE_DATA(tool) *self)
{
	char d[MOUNT_DATA_MAX];

	ASSERT_EQ(0, dataf(d, "br=%s", self->other));
	ASSERT_EQ(0, aufs_mount(self->mnt2, 0, d)) TH_LOG("mount -o '%s': %s", d, strerror(errno));
	self->mounted2 = 1;
	ASSERT_EQ(0, mount_si(self->mnt2, self->si2, sizeof(self->si2)));
}

/* brid<idx> of si, as a number */
static long sys_brid(struct __test_metadata *_metadata, const char *si, int idx)
{
	char name[32], buf[64];

	snprintf(name, sizeof(name), "brid%d", idx);
	ASSERT_LE(1, read_si_file(si, name, buf, sizeof(buf))) TH_LOG("si_%s/%s", si, name);
	return strtol(buf, NULL, 10);
}

/*
 * In table output, find the block of mount mnt and check it against the
 * expected branches (paths, perms with attributes, ids from sysfs).
 */
static void check_table_block(struct __test_metadata *_metadata, const char *out,
			      const char *mnt, const char *si, int nbr,
			      const char *const *paths, const char *const *perms)
{
	char *copy = strdup(out), *save = NULL, *line;
	int in_block = 0, rows = 0, headers = 0;

	ASSERT_NE(NULL, copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char first[PATH_MAX], second[256], perm[64], esc[PATH_MAX * 4];
		const char *rest;
		int idx, id, consumed = 0;

		if (line[0] == '/') {	/* a header */
			in_block = 0;
			if (sscanf(line, "%4095s %255s", first, second) != 2 || strcmp(first, mnt))
				continue;
			headers++;
			snprintf(esc, sizeof(esc), "si=%s", si);
			ASSERT_STREQ(esc, second) TH_LOG("header '%s'", line);
			in_block = 1;
			continue;
		}
		if (!in_block)
			continue;
		ASSERT_EQ(3, sscanf(line, " %d %d %63s %n", &idx, &id, perm, &consumed))
			TH_LOG("row '%s'", line);
		rest = line + consumed;
		ASSERT_EQ(rows, idx) TH_LOG("row '%s'", line);
		ASSERT_GT(nbr, idx) TH_LOG("extra row '%s'", line);
		ASSERT_EQ(sys_brid(_metadata, si, idx), id) TH_LOG("row '%s'", line);
		ASSERT_STREQ(perms[idx], perm);
		escape_path(paths[idx], esc, sizeof(esc));
		ASSERT_TRUE(!strcmp(rest, paths[idx]) || !strcmp(rest, esc))
			TH_LOG("row '%s': path '%s', expected '%s'", line, rest, paths[idx]);
		rows++;
	}
	free(copy);
	ASSERT_EQ(1, headers) log_text("no single header line for the mount in", out);
	ASSERT_EQ(nbr, rows) log_text("aubr output", out);
}

/* xi_path from sysfs, unescaped, without the newline */
static void sys_xino(struct __test_metadata *_metadata, const char *si, char *out, size_t size)
{
	char buf[PATH_MAX * 5];
	ssize_t n;

	n = read_si_file(si, "xi_path", buf, sizeof(buf));
	ASSERT_LE(1, n);
	ASSERT_EQ('\n', buf[n - 1]);
	buf[n - 1] = '\0';
	unescape_octal(buf, out, size);
}

/* Check one JSON mount object. attrs[i] is NULL or the one attribute. */
static void check_json_mount(struct __test_metadata *_metadata, const struct jval *m,
			     const char *mnt, const char *si, int nbr,
			     const char *const *paths, const char *const *perms,
			     const char *const *attrs)
{
	const struct jval *v, *brs;
	char xino[PATH_MAX];
	int i;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(J_OBJ, m->t);
	v = jget(m, "mountpoint");
	ASSERT_TRUE(v && v->t == J_STR);
	ASSERT_STREQ(mnt, v->s);
	v = jget(m, "source");
	ASSERT_TRUE(v && v->t == J_STR);
	ASSERT_STREQ(AUFS_SOURCE, v->s);
	v = jget(m, "si");
	ASSERT_TRUE(v && v->t == J_STR) TH_LOG("si must be a string");
	ASSERT_STREQ(si, v->s);
	v = jget(m, "xino_path");
	ASSERT_TRUE(v && v->t == J_STR) TH_LOG("xino_path must be a string");
	sys_xino(_metadata, si, xino, sizeof(xino));
	ASSERT_STREQ(xino, v->s);
	brs = jget(m, "branches");
	ASSERT_TRUE(brs && brs->t == J_ARR);
	ASSERT_EQ((size_t)nbr, brs->n);
	for (i = 0; i < nbr; i++) {
		const struct jval *b = brs->items[i], *a;

		ASSERT_EQ(J_OBJ, b->t);
		v = jget(b, "index");
		ASSERT_TRUE(v && v->t == J_NUM);
		ASSERT_EQ(i, (int)v->num);
		v = jget(b, "id");
		ASSERT_TRUE(v && v->t == J_NUM);
		ASSERT_EQ(sys_brid(_metadata, si, i), (long)v->num);
		v = jget(b, "path");
		ASSERT_TRUE(v && v->t == J_STR);
		ASSERT_STREQ(paths[i], v->s);
		v = jget(b, "perm");
		ASSERT_TRUE(v && v->t == J_STR);
		ASSERT_STREQ(perms[i], v->s);
		a = jget(b, "attrs");
		ASSERT_TRUE(a && a->t == J_ARR);
		if (attrs[i]) {
			ASSERT_EQ(1, a->n);
			ASSERT_EQ(J_STR, a->items[0]->t);
			ASSERT_STREQ(attrs[i], a->items[0]->s);
		} else {
			ASSERT_EQ(0, a->n);
		}
		v = jget(b, "writable");
		ASSERT_TRUE(v && v->t == J_BOOL);
		ASSERT_EQ(!strcmp(perms[i], "rw"), v->b);
	}
}

static const struct jval *json_find_mount(const struct jval *arr, const char *mnt)
{
	size_t i;

	for (i = 0; i < arr->n; i++) {
		const struct jval *v = jget(arr->items[i], "mountpoint");

		if (v && v->t == J_STR && !strcmp(v->s, mnt))
			return arr->items[i];
	}
	return NULL;
}

/* ---------------- tests ---------------- */

TEST_F(tool, table_one_mount)
{
	static struct run r;
	const char *paths[NBR] = { self->br[0], self->br[1], self->br[2] };

	ASSERT_EQ(0, run_aubr(&r, self->mnt, NULL, NULL, NULL));
	ASSERT_EQ(0, r.status) log_text("aubr stderr", r.err);
	log_text("aubr output", r.out);
	check_table_block(_metadata, r.out, self->mnt, self->si, NBR, paths, br_perm);
}

TEST_F(tool, table_all_mounts)
{
	static struct run r;
	const char *paths[NBR] = { self->br[0], self->br[1], self->br[2] };
	const char *paths2[1] = { self->other };
	const char *perms2[1] = { "rw" };

	mount_second(_metadata, self);
	ASSERT_EQ(0, run_aubr(&r, NULL, NULL, NULL, NULL));
	ASSERT_EQ(0, r.status) log_text("aubr stderr", r.err);
	check_table_block(_metadata, r.out, self->mnt, self->si, NBR, paths, br_perm);
	check_table_block(_metadata, r.out, self->mnt2, self->si2, 1, paths2, perms2);
}

TEST_F(tool, json_one_mount)
{
	static struct run r;
	const char *paths[NBR] = { self->br[0], self->br[1], self->br[2] };
	struct jval *j;

	ASSERT_EQ(0, run_aubr(&r, "--json", self->mnt, NULL, NULL));
	ASSERT_EQ(0, r.status) log_text("aubr stderr", r.err);
	log_text("aubr --json output", r.out);
	j = jparse(r.out);
	ASSERT_NE(NULL, j) TH_LOG("not valid JSON");
	ASSERT_EQ(J_ARR, j->t);
	ASSERT_EQ(1, j->n);
	check_json_mount(_metadata, j->items[0], self->mnt, self->si, NBR, paths,
			 br_base_perm, br_attr);
}

TEST_F(tool, json_all_mounts)
{
	static struct run r;
	const char *paths[NBR] = { self->br[0], self->br[1], self->br[2] };
	const char *paths2[1] = { self->other };
	const char *perms2[1] = { "rw" };
	const char *attrs2[1] = { NULL };
	struct jval *j;

	mount_second(_metadata, self);
	ASSERT_EQ(0, run_aubr(&r, "--json", NULL, NULL, NULL));
	ASSERT_EQ(0, r.status) log_text("aubr stderr", r.err);
	j = jparse(r.out);
	ASSERT_NE(NULL, j) log_text("not valid JSON", r.out);
	ASSERT_EQ(J_ARR, j->t);
	ASSERT_LE(2, j->n);
	check_json_mount(_metadata, json_find_mount(j, self->mnt), self->mnt, self->si, NBR,
			 paths, br_base_perm, br_attr);
	check_json_mount(_metadata, json_find_mount(j, self->mnt2), self->mnt2, self->si2, 1,
			 paths2, perms2, attrs2);
}

TEST_F(tool, json_two_mountpoints_given)
{
	static struct run r;
	struct jval *j;

	mount_second(_metadata, self);
	ASSERT_EQ(0, run_aubr(&r, "--json", self->mnt, self->mnt2, NULL));
	ASSERT_EQ(0, r.status) log_text("aubr stderr", r.err);
	j = jparse(r.out);
	ASSERT_NE(NULL, j) log_text("not valid JSON", r.out);
	ASSERT_EQ(J_ARR, j->t);
	ASSERT_EQ(2, j->n);
	ASSERT_NE(NULL, json_find_mount(j, self->mnt));
	ASSERT_NE(NULL, json_find_mount(j, self->mnt2));
}

TEST_F(tool, not_an_aufs_mount)
{
	static struct run r;
	char want[PATH_MAX + 64];

	/* a directory on the tmpfs */
	ASSERT_EQ(0, run_aubr(&r, self->dir, NULL, NULL, NULL));
	ASSERT_EQ(1, r.status) {
		log_text("stdout", r.out);
		log_text("stderr", r.err);
	}
	snprintf(want, sizeof(want), "aubr: %s: not an aufs mount\n", self->dir);
	ASSERT_NE(NULL, strstr(r.err, want)) log_text("aubr stderr", r.err);
	/* the same with --json */
	ASSERT_EQ(0, run_aubr(&r, "--json", self->dir, NULL, NULL));
	ASSERT_EQ(1, r.status);
	ASSERT_NE(NULL, strstr(r.err, want)) log_text("aubr stderr", r.err);
	/* a mount of another type */
	ASSERT_EQ(0, run_aubr(&r, "/proc", NULL, NULL, NULL));
	ASSERT_EQ(1, r.status);
	ASSERT_NE(NULL, strstr(r.err, "aubr: /proc: not an aufs mount\n")) log_text("aubr stderr", r.err);
}

TEST_HARNESS_MAIN
