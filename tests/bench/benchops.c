// Tight system-call loops for tests/vm/bench.py (built by it with gcc in the
// guest): the union's cost without an interpreter's per-call overhead.
// Prints the elapsed time of the loop in seconds; exit 1 (message on stderr)
// when a call fails in a way the workload does not expect.
//
//   benchops stat DIR PREFIX N       stat DIR/PREFIX0 .. PREFIX<N-1> (must exist)
//   benchops neg DIR PREFIX N        the same names must be absent (ENOENT)
//   benchops open DIR PREFIX N REPS  open(O_RDONLY)+close of each, REPS times
//   benchops readdir DIR REPS        opendir/readdir to the end/closedir
//   benchops meta DIR N              create N files, rename each, unlink each
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "benchops: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	char p[4096], q[4096];
	double t0, t1;
	long i, r, n, reps;
	struct stat st;

	if (argc < 3)
		goto usage;
	const char *op = argv[1], *dir = argv[2];
	if ((!strcmp(op, "stat") || !strcmp(op, "neg")) && argc == 5) {
		int neg = op[0] == 'n';
		n = atol(argv[4]);
		t0 = now();
		for (i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/%s%ld", dir, argv[3], i);
			int rc = stat(p, &st);
			if (neg ? (rc == 0 || errno != ENOENT) : rc != 0) {
				if (rc == 0)
					errno = EEXIST;
				die("stat", p);
			}
		}
		t1 = now();
	} else if (!strcmp(op, "open") && argc == 6) {
		n = atol(argv[4]);
		reps = atol(argv[5]);
		t0 = now();
		for (r = 0; r < reps; r++)
			for (i = 0; i < n; i++) {
				snprintf(p, sizeof(p), "%s/%s%ld", dir, argv[3], i);
				int fd = open(p, O_RDONLY);
				if (fd < 0)
					die("open", p);
				close(fd);
			}
		t1 = now();
	} else if (!strcmp(op, "readdir") && argc == 4) {
		reps = atol(argv[3]);
		t0 = now();
		for (r = 0; r < reps; r++) {
			DIR *d = opendir(dir);
			if (!d)
				die("opendir", dir);
			errno = 0;
			while (readdir(d))
				;
			if (errno)
				die("readdir", dir);
			closedir(d);
		}
		t1 = now();
	} else if (!strcmp(op, "meta") && argc == 4) {
		n = atol(argv[3]);
		t0 = now();
		for (i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/m%ld", dir, i);
			int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				die("create", p);
			close(fd);
		}
		for (i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/m%ld", dir, i);
			snprintf(q, sizeof(q), "%s/r%ld", dir, i);
			if (rename(p, q))
				die("rename", p);
		}
		for (i = 0; i < n; i++) {
			snprintf(q, sizeof(q), "%s/r%ld", dir, i);
			if (unlink(q))
				die("unlink", q);
		}
		t1 = now();
	} else {
usage:
		fprintf(stderr, "usage: benchops stat|neg DIR PREFIX N | open DIR PREFIX N REPS | readdir DIR REPS | meta DIR N\n");
		return 2;
	}
	printf("%.9f\n", t1 - t0);
	return 0;
}
