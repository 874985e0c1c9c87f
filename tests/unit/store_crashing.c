/* SPDX-License-Identifier: MIT */
#include "store_crashing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a kill in the middle of write_atomic leaves: the temporary file, half written,
 * named as the POSIX store names its temporaries (PATH.tmp.XXXXXX). */
static void leave_temp(const char *path, const void *data, size_t len)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return;
	if (len / 2 && write(fd, data, len / 2) < 0)
		perror(tmp);
	close(fd);
}

void store_crashing_stop(struct store_crashing *c)
{
	if (c->crashed)
		return;
	c->crashed = true;
	if (c->usb)
		emu_transport_fail(c->usb, ST7_ERR_NO_DEVICE);
	if (c->abort_flag)
		*c->abort_flag = 1;
}

/*
 * Before a modifying op: ST7_OK to run it, or the error it answers. *after: the op runs,
 * then the run stops.
 */
static int before_mod(struct store_crashing *c, const char *op, const char *path, bool *after,
                      struct st7_diag *d)
{
	*after = false;
	if (c->crashed) {
		c->refused++;
		return st7_diag_set(d, ST7_ERR_IO, "%s %s: the run was stopped", op, path);
	}
	c->mods++;
	if (c->mods <= STORE_CRASHING_LOG)
		snprintf(c->ops[c->mods - 1], sizeof(c->ops[0]), "%s %s", op, path);
	if (c->mods != c->crash_at)
		return ST7_OK;
	snprintf(c->crash_op, sizeof(c->crash_op), "%s %s", op, path);
	if (!c->torn) {
		*after = true;
		return ST7_OK;
	}
	store_crashing_stop(c);
	return st7_diag_set(d, ST7_ERR_IO, "%s %s: the run was stopped", op, path);
}

static int done_mod(struct store_crashing *c, bool after, int ret)
{
	if (after)
		store_crashing_stop(c);
	return ret;
}

/* Ops that change nothing fail too once the run is stopped: the process is gone. */
static int refuse(struct store_crashing *c, const char *op, struct st7_diag *d)
{
	c->refused++;
	return st7_diag_set(d, ST7_ERR_IO, "%s: the run was stopped", op);
}

#define INNER(c) ((c)->inner->ops)
#define IMPL(c) ((c)->inner->impl)

static int s_read(void *impl, const char *path, size_t max_len, unsigned flags, struct st7_buf *out,
                  struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "read", d);
	return INNER(c)->read(IMPL(c), path, max_len, flags, out, d);
}

static int s_read_each(void *impl, const char *path, unsigned flags,
                       int (*each)(void *arg, const uint8_t *p, size_t n), void *arg,
                       struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "read_each", d);
	return INNER(c)->read_each(IMPL(c), path, flags, each, arg, d);
}

static int s_write_atomic(void *impl, const char *path, const void *data, size_t len, unsigned mode,
                          unsigned flags, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "write_atomic", path, &after, d);
	if (ret) {
		if (c->torn && c->crashed && c->mods == c->crash_at)
			leave_temp(path, data, len);
		return ret;
	}
	return done_mod(c, after, INNER(c)->write_atomic(IMPL(c), path, data, len, mode, flags, d));
}

static int s_stat(void *impl, const char *path, struct st7_store_entry *e, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "stat", d);
	return INNER(c)->stat(IMPL(c), path, e, d);
}

static int s_list(void *impl, const char *dir,
                  int (*each)(void *arg, const struct st7_store_entry *e), void *arg,
                  struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "list", d);
	return INNER(c)->list(IMPL(c), dir, each, arg, d);
}

static int s_remove(void *impl, const char *path, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "remove", path, &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->remove(IMPL(c), path, d));
}

static int s_rename(void *impl, const char *from, const char *to, unsigned flags,
                    struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "rename", from, &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->rename(IMPL(c), from, to, flags, d));
}

static int s_mkdir_p(void *impl, const char *dir, unsigned mode, unsigned flags, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "mkdir_p", dir, &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->mkdir_p(IMPL(c), dir, mode, flags, d));
}

static int s_touch(void *impl, const char *path, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "touch", path, &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->touch(IMPL(c), path, d));
}

static int s_check_private(void *impl, const char *dir, bool owner_only, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "check_private", d);
	return INNER(c)->check_private(IMPL(c), dir, owner_only, d);
}

static int s_check_room(void *impl, const char *dir, uint64_t need, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "check_room", d);
	return INNER(c)->check_room(IMPL(c), dir, need, d);
}

static int s_canonical(void *impl, const char *path, char *out, size_t size, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	if (c->crashed)
		return refuse(c, "canonical", d);
	return INNER(c)->canonical(IMPL(c), path, out, size, d);
}

static int s_append_open(void *impl, const char *path, bool truncate, uint64_t *size,
                         struct st7_store_file **f, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	*f = NULL;
	int ret = before_mod(c, "append_open", path, &after, d);
	return ret ? ret
	           : done_mod(c, after, INNER(c)->append_open(IMPL(c), path, truncate, size, f, d));
}

static int s_append(void *impl, struct st7_store_file *f, const void *p, size_t n,
                    struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	int ret = before_mod(c, "append", "(stream)", &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->append(IMPL(c), f, p, n, d));
}

static int s_append_close(void *impl, struct st7_store_file *f, bool sync, struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	/* Closed in every case (the contract): a dead process's files are closed too. */
	int ret = before_mod(c, "append_close", "(stream)", &after, d);
	int closed = INNER(c)->append_close(IMPL(c), f, sync && !ret, d);
	return ret ? ret : done_mod(c, after, closed);
}

static int s_lock(void *impl, const char *path, unsigned wait_s, struct st7_store_lock **l,
                  struct st7_diag *d)
{
	struct store_crashing *c = impl;
	bool after;
	*l = NULL;
	int ret = before_mod(c, "lock", path, &after, d);
	return ret ? ret : done_mod(c, after, INNER(c)->lock(IMPL(c), path, wait_s, l, d));
}

static void s_unlock(void *impl, struct st7_store_lock *l)
{
	struct store_crashing *c = impl;
	/* A dead process's locks go with it. */
	INNER(c)->unlock(IMPL(c), l);
}

static void s_destroy(void *impl)
{
	(void)impl; /* the inner store and `c` are the caller's */
}

static const struct st7_store_ops crashing_ops = {
	.name = "crashing",
	.read = s_read,
	.read_each = s_read_each,
	.write_atomic = s_write_atomic,
	.stat = s_stat,
	.list = s_list,
	.remove = s_remove,
	.rename = s_rename,
	.mkdir_p = s_mkdir_p,
	.check_private = s_check_private,
	.check_room = s_check_room,
	.canonical = s_canonical,
	.touch = s_touch,
	.append_open = s_append_open,
	.append = s_append,
	.append_close = s_append_close,
	.lock = s_lock,
	.unlock = s_unlock,
	.destroy = s_destroy,
};

bool store_crashing_done(const struct store_crashing *c, const char *op, const char *path_part)
{
	unsigned long n = c->mods;
	size_t len = strlen(op);
	if (c->crashed && c->torn && c->crash_at == c->mods)
		n--; /* it died half-way */
	for (unsigned long i = 0; i < n && i < STORE_CRASHING_LOG; i++)
		if (!strncmp(c->ops[i], op, len) && c->ops[i][len] == ' ' &&
		    strstr(c->ops[i] + len, path_part))
			return true;
	return false;
}

void store_crashing_init(struct st7_store *s, struct store_crashing *c)
{
	c->mods = c->refused = 0;
	c->crashed = false;
	c->crash_op[0] = '\0';
	memset(c->ops, 0, sizeof(c->ops));
	s->ops = &crashing_ops;
	s->impl = c;
}
