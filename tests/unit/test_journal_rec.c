/* SPDX-License-Identifier: MIT */
/*
 * formats/journal_rec: a record round-trips exactly (hostile strings too, the largest
 * record within ST7_JOURNAL_REC_MAX), and every damage is refused: cut at every length,
 * any byte flipped, another version, a bad CRC, and CRC-valid records that break a rule
 * (unknown, repeated, missing or misplaced key, a value out of range or not canonical, a
 * text too long for its field, a device that is not its key).
 */
#include <stdlib.h>

#include "check.h"
#include "crc32.h"
#include "journal_rec.h"

static void sample(struct st7_journal_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->attempt = 3;
	r->phase = ST7_JPH_DOWNLOADING;
	snprintf(r->serial, sizeof(r->serial), "SN 0001/é\n%%\\\x7f");
	r->vid = 0x0483;
	r->pid = 0xff03;
	CHECK_INT(st7_journal_key(r->vid, r->pid, r->serial, r->device, sizeof(r->device)), 0);
	snprintf(r->port, sizeof(r->port), "1-1.2");
	r->has_from = true;
	r->from_version = 0x0100;
	r->to_version = 0x0101;
	snprintf(r->release, sizeof(r->release), "reader-1.01");
	r->manifest_serial = 42;
	memset(r->image_sha256, 'a', 64);
	snprintf(r->image_url, sizeof(r->image_url), "https://h.example/f/reader%%201.dfu?a=b");
	snprintf(r->backup, sizeof(r->backup), "/var/lib/st7dfu/backups/0483-ff03-SN/0100.dfu");
	r->started_s = 1795000000;
	r->updated_s = 1795000042;
	r->fetch_ms = 1200;
	r->flash_ms = 4100;
	r->recoveries = 1;
	r->device_rollback = false;
	snprintf(r->error, sizeof(r->error), "line1\r\nline2\ttab");
}

/* `text` with its crc32 line appended (a CRC-valid record of any content). */
static size_t seal(const char *text, uint8_t *out, size_t cap)
{
	size_t n = strlen(text);
	if (n + 16 > cap)
		return 0;
	memcpy(out, text, n);
	snprintf((char *)out + n, cap - n, "crc32=%08x\n",
	         (unsigned)(st7_dfu_crc(out, n) ^ 0xFFFFFFFFu));
	return n + 15;
}

static void test_phases(void)
{
	enum st7_journal_phase p;
	for (int i = ST7_JPH_DECIDED; i <= ST7_JPH_LEFT_IN_DFU; i++) {
		CHECK_INT(st7_journal_phase_parse(st7_journal_phase_name(i), &p), 0);
		CHECK_INT(p, i);
		CHECK_INT(st7_journal_phase_terminal(i), i >= ST7_JPH_DONE);
	}
	CHECK(strcmp(st7_journal_phase_name(ST7_JPH_BACKED_UP), "backed-up") == 0);
	CHECK(strcmp(st7_journal_phase_name(ST7_JPH_POSTCHECK), "post-check") == 0);
	CHECK(strcmp(st7_journal_phase_name(ST7_JPH_LEFT_IN_DFU), "left-in-dfu") == 0);
	CHECK(strcmp(st7_journal_phase_name(0), "?") == 0);
	CHECK(strcmp(st7_journal_phase_name(99), "?") == 0);
	CHECK_INT(st7_journal_phase_parse("Done", &p), ST7_ERR_FORMAT);
	CHECK_INT(st7_journal_phase_parse("", &p), ST7_ERR_FORMAT);
	CHECK_INT(st7_journal_phase_parse(NULL, &p), ST7_ERR_FORMAT);
}

static void test_key(void)
{
	char k[ST7_JOURNAL_KEY_MAX];
	CHECK_INT(st7_journal_key(0x483, 0xFF03, "SN-01_a.b", k, sizeof(k)), 0);
	CHECK(strcmp(k, "0483-ff03-SN-01_a.b") == 0);
	CHECK_INT(st7_journal_key(1, 2, "../x/é y", k, sizeof(k)), 0);
	CHECK(strcmp(k, "0001-0002-_._x____y") == 0);
	CHECK_INT(st7_journal_key(1, 2, "", k, sizeof(k)), 0);
	CHECK(strcmp(k, "0001-0002-") == 0);
	CHECK_INT(st7_journal_key(1, 2, "abc", k, 13), ST7_ERR_INVALID); /* never cut */
	CHECK(k[0] == '\0');
	CHECK_INT(st7_journal_key(1, 2, "abc", k, 14), 0);
	CHECK_INT(st7_journal_key(1, 2, NULL, k, sizeof(k)), ST7_ERR_INVALID);
}

static void test_round_trip(void)
{
	struct st7_journal_rec r, back;
	struct st7_buf b, b2;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	st7_buf_init(&b2);
	sample(&r);
	CHECK_INT(st7_journal_rec_encode(&r, &b), 0);
	CHECK(b.len > 0 && b.len <= ST7_JOURNAL_REC_MAX);
	CHECK(b.len > 17 &&
	      memcmp(b.data, "st7dfu-journal 1\nattempt=3\nphase=downloading\n", 45) == 0);
	CHECK(st7_buf_append_byte(&b, 0) == 0);
	b.len--;
	CHECK_HAS((char *)b.data, "\nserial=SN 0001/%C3%A9%0A%25%5C%7F\n");
	CHECK_HAS((char *)b.data, "\nimage_url=https://h.example/f/reader%25201.dfu?a=b\n");
	CHECK_HAS((char *)b.data, "\nfrom_version=0x0100\nto_version=0x0101\n");
	CHECK_HAS((char *)b.data, "\nvid=0483\npid=ff03\n");
	CHECK_HAS((char *)b.data, "\nerror=line1%0D%0Aline2%09tab\ncrc32=");
	CHECK_INT(st7_journal_rec_decode(b.data, b.len, &back, &d), 0);
	CHECK(strcmp(back.serial, r.serial) == 0);
	CHECK(strcmp(back.error, r.error) == 0);
	CHECK(memcmp(&back, &r, sizeof(r)) == 0);
	/* canonical: re-encoding gives the very same bytes */
	CHECK_INT(st7_journal_rec_encode(&back, &b2), 0);
	CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
	/* no from_version, negative times, the extremes of every number */
	r.has_from = false;
	r.from_version = 0;
	r.started_s = INT64_MIN;
	r.updated_s = -1;
	r.attempt = UINT64_MAX;
	r.manifest_serial = 0;
	r.fetch_ms = UINT32_MAX;
	r.recoveries = ~0u;
	r.device_rollback = true;
	r.phase = ST7_JPH_LEFT_IN_DFU;
	memset(r.image_sha256, 0, sizeof(r.image_sha256));
	snprintf(r.outcome, sizeof(r.outcome), "left-in-dfu");
	CHECK_INT(st7_journal_rec_encode(&r, &b), 0);
	CHECK_INT(st7_journal_rec_decode(b.data, b.len, &back, &d), 0);
	CHECK(memcmp(&back, &r, sizeof(r)) == 0);
	/* the zlib CRC-32 */
	{
		static const char t[] = "123456789";
		CHECK_INT(st7_dfu_crc(t, 9) ^ 0xFFFFFFFFu, 0xCBF43926u);
	}
	st7_buf_free(&b);
	st7_buf_free(&b2);
}

/* Every text field full of bytes that need escaping: still within the bound. */
static void test_largest(void)
{
	struct st7_journal_rec r, back;
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	sample(&r);
	memset(r.serial, 0x80, sizeof(r.serial) - 1);
	r.serial[sizeof(r.serial) - 1] = '\0';
	CHECK_INT(st7_journal_key(r.vid, r.pid, r.serial, r.device, sizeof(r.device)), 0);
	memset(r.port, '%', sizeof(r.port) - 1);
	memset(r.release, 1, sizeof(r.release) - 1);
	memset(r.image_url, 0xff, sizeof(r.image_url) - 1);
	memset(r.backup, '\\', sizeof(r.backup) - 1);
	memset(r.outcome, '\n', sizeof(r.outcome) - 1);
	memset(r.error, 0x7f, sizeof(r.error) - 1);
	r.attempt = UINT64_MAX;
	r.manifest_serial = UINT64_MAX;
	r.started_s = INT64_MIN;
	r.updated_s = INT64_MIN;
	r.fetch_ms = r.flash_ms = UINT32_MAX;
	r.recoveries = ~0u;
	r.phase = ST7_JPH_MANIFESTING; /* the longest name */
	CHECK_INT(st7_journal_rec_encode(&r, &b), 0);
	CHECK(b.len <= ST7_JOURNAL_REC_MAX);
	printf("largest record: %zu bytes (max %u)\n", b.len, ST7_JOURNAL_REC_MAX);
	CHECK_INT(st7_journal_rec_decode(b.data, b.len, &back, &d), 0);
	CHECK(memcmp(&back, &r, sizeof(r)) == 0);
	/* a string not terminated in its array, a bad sha, a wrong device: refused */
	memset(r.port, 'x', sizeof(r.port));
	CHECK_INT(st7_journal_rec_encode(&r, &b), ST7_ERR_INVALID);
	CHECK(b.len == 0);
	sample(&r);
	snprintf(r.image_sha256, sizeof(r.image_sha256), "%064d", 0);
	r.image_sha256[3] = 'A';
	CHECK_INT(st7_journal_rec_check(&r, &d), ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "image_sha256");
	sample(&r);
	r.device[0] = '1';
	CHECK_INT(st7_journal_rec_check(&r, &d), ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "device");
	sample(&r);
	r.attempt = 0;
	CHECK_INT(st7_journal_rec_encode(&r, &b), ST7_ERR_INVALID);
	sample(&r);
	r.phase = 0;
	CHECK_INT(st7_journal_rec_encode(&r, &b), ST7_ERR_INVALID);
	r.phase = 13;
	CHECK_INT(st7_journal_rec_encode(&r, &b), ST7_ERR_INVALID);
	st7_buf_free(&b);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Cut at every length, every byte flipped (each bit), anything appended. */
static void test_damage(void)
{
	struct st7_journal_rec r, back;
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	sample(&r);
	CHECK_INT(st7_journal_rec_encode(&r, &b), 0);
	uint8_t *copy = malloc(b.len + 8);
	CHECK(copy != NULL);
	if (!copy)
		return;
	unsigned accepted = 0, zeroed = 0, n = 0;
	for (size_t len = 0; len < b.len; len++) {
		memcpy(copy, b.data, len);
		int ret = st7_journal_rec_decode(len ? copy : NULL, len, &back, &d);
		accepted += ret == 0;
		zeroed += all_zero(&back, sizeof(back));
		n++;
	}
	CHECK_INT(accepted, 0);
	CHECK_INT(zeroed, n);
	accepted = 0;
	for (size_t i = 0; i < b.len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(copy, b.data, b.len);
			copy[i] ^= (uint8_t)(1u << bit);
			accepted += st7_journal_rec_decode(copy, b.len, &back, &d) == 0;
		}
	CHECK_INT(accepted, 0);
	memcpy(copy, b.data, b.len);
	copy[b.len] = '\n';
	CHECK(st7_journal_rec_decode(copy, b.len + 1, &back, &d) != 0);
	/* a flip in the body is a CRC error */
	memcpy(copy, b.data, b.len);
	copy[30] ^= 1;
	CHECK_INT(st7_journal_rec_decode(copy, b.len, &back, &d), ST7_ERR_CRC);
	CHECK_HAS(d.msg, "torn or damaged");
	/* cut inside the last line */
	CHECK_INT(st7_journal_rec_decode(b.data, b.len - 1, &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "crc32");
	free(copy);
	/* too large */
	uint8_t *big = calloc(1, ST7_JOURNAL_REC_MAX + 1);
	CHECK(big != NULL);
	if (big) {
		CHECK_INT(st7_journal_rec_decode(big, ST7_JOURNAL_REC_MAX + 1, &back, &d),
		          ST7_ERR_TOO_LARGE);
		free(big);
	}
	st7_buf_free(&b);
}

/* The sample's text with `from` replaced by `to` (first occurrence), sealed again. */
static int variant(const char *from, const char *to, struct st7_journal_rec *back,
                   struct st7_diag *d)
{
	struct st7_journal_rec r;
	struct st7_buf b;
	static char text[ST7_JOURNAL_REC_MAX * 2];
	static uint8_t out[ST7_JOURNAL_REC_MAX * 2];
	st7_buf_init(&b);
	sample(&r);
	if (st7_journal_rec_encode(&r, &b) != 0)
		return 99;
	b.len -= 15; /* without the crc line */
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	st7_buf_free(&b);
	char *at = strstr(text, from);
	if (!at) {
		fprintf(stderr, "variant: '%s' not in the sample\n", from);
		return 98;
	}
	size_t fl = strlen(from), tl = strlen(to);
	memmove(at + tl, at + fl, strlen(at + fl) + 1);
	memcpy(at, to, tl);
	size_t n = seal(text, out, sizeof(out));
	return st7_journal_rec_decode(out, n, back, d);
}

static void test_rules(void)
{
	struct st7_journal_rec back;
	struct st7_diag d = { "" };
	/* the sample itself, re-sealed, decodes */
	CHECK_INT(variant("attempt=3", "attempt=3", &back, &d), 0);
	/* version, magic */
	CHECK_INT(variant("st7dfu-journal 1", "st7dfu-journal 2", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "foreign");
	CHECK_HAS(d.msg, "version 2");
	CHECK_INT(variant("st7dfu-journal 1", "st7dfu-journal 01", &back, &d), ST7_ERR_FORMAT);
	CHECK_INT(variant("st7dfu-journal 1", "st7dfu-Journal 1", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "not a journal record");
	CHECK_INT(variant("st7dfu-journal 1\n", "st7dfu-journal 1\r\n", &back, &d), ST7_ERR_FORMAT);
	/* keys */
	CHECK_INT(variant("attempt=3\n", "attempt=3\nattempt=3\n", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "line 3: duplicate key 'attempt'");
	CHECK_INT(variant("port=", "colour=blue\nport=", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "unknown key 'colour'");
	CHECK_INT(variant("vid=0483\npid=ff03\n", "pid=ff03\nvid=0483\n", &back, &d),
	          ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "'pid' where 'vid' belongs");
	CHECK_INT(variant("phase=downloading\n", "", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "'device' where 'phase' belongs");
	CHECK_INT(variant("error=line1%0D%0Aline2%09tab\n", "", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "missing key 'error'");
	CHECK_INT(variant("recoveries=1\n", "recoveries 1\n", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "expected key=value");
	CHECK_INT(variant("attempt=3\n", "\nattempt=3\n", &back, &d), ST7_ERR_FORMAT);
	/* values */
	static const char *const bad[][2] = {
		{ "attempt=3", "attempt=0" },
		{ "attempt=3", "attempt=03" },
		{ "attempt=3", "attempt=+3" },
		{ "attempt=3", "attempt=0x3" },
		{ "attempt=3", "attempt=18446744073709551616" },
		{ "attempt=3", "attempt=" },
		{ "phase=downloading", "phase=Downloading" },
		{ "phase=downloading", "phase=downloading " },
		{ "vid=0483", "vid=483" },
		{ "vid=0483", "vid=0X483" },
		{ "pid=ff03", "pid=FF03" },
		{ "from_version=0x0100", "from_version=0x100" },
		{ "from_version=0x0100", "from_version=" },
		{ "to_version=0x0101", "to_version=0x0G01" },
		{ "manifest_serial=42", "manifest_serial=-1" },
		{ "image_sha256=aaaa", "image_sha256=Aaaa" },
		{ "image_sha256=aaaa", "image_sha256=aaaaa" },
		{ "started_s=1795000000", "started_s=-0" },
		{ "started_s=1795000000", "started_s=9223372036854775808" },
		{ "fetch_ms=1200", "fetch_ms=4294967296" },
		{ "recoveries=1", "recoveries=1.0" },
		{ "device_rollback=no", "device_rollback=false" },
		{ "port=1-1.2", "port=1-1.2%" },
		{ "port=1-1.2", "port=1-1.2%4" },
		{ "port=1-1.2", "port=1-1.2%0a" },
		{ "port=1-1.2", "port=1-1.2%41" },
		{ "port=1-1.2", "port=1%00" },
		{ "port=1-1.2", "port=1\\2" },
		{ "port=1-1.2", "port=1\xc3\xa9" },
		{ "port=1-1.2", "port=1\r" },
		{ "port=1-1.2", "port=0123456789012345678901234567890123" },
		{ "port=1-1.2", "port=01234567890123456789012345678901" }, /* 32: no room for NUL */
		{ "tab\n", "tab" }, /* the last line not ended before the crc line */
		{ "serial=SN", "serial=SM" },
		{ "device=0483-ff03-", "device=0483-ff04-" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = variant(bad[i][0], bad[i][1], &back, &d);
		if (ret != ST7_ERR_FORMAT)
			fprintf(stderr, "case %zu: %s -> %d\n", i, bad[i][1], ret);
		CHECK_INT(ret, ST7_ERR_FORMAT);
		CHECK(all_zero(&back, sizeof(back)));
	}
	CHECK_INT(variant("port=1-1.2", "port=0123456789012345678901234567890123", &back, &d),
	          ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "(port): too long for its field");
	CHECK_INT(variant("serial=SN", "serial=SM", &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "not the key");
	/* the longest values that fit, the extremes that are in range */
	CHECK_INT(variant("port=1-1.2", "port=0123456789012345678901234567890", &back, &d), 0);
	CHECK_INT(variant("started_s=1795000000", "started_s=-9223372036854775808", &back, &d), 0);
	CHECK(back.started_s == INT64_MIN);
	CHECK_INT(variant("attempt=3", "attempt=18446744073709551615", &back, &d), 0);
	CHECK(back.attempt == UINT64_MAX);
	/* '=' in a value is the value's */
	CHECK_INT(variant("port=1-1.2", "port=a=b", &back, &d), 0);
	CHECK(strcmp(back.port, "a=b") == 0);
	/* no body at all, no crc line */
	uint8_t buf[64];
	size_t n = seal("st7dfu-journal 1\n", buf, sizeof(buf));
	CHECK_INT(st7_journal_rec_decode(buf, n, &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "missing key 'attempt'");
	CHECK_INT(st7_journal_rec_decode((const uint8_t *)"st7dfu-journal 1\n", 17, &back, &d),
	          ST7_ERR_FORMAT);
	CHECK_INT(st7_journal_rec_decode(NULL, 0, &back, &d), ST7_ERR_FORMAT);
	CHECK_INT(st7_journal_rec_decode(buf, n, NULL, &d), ST7_ERR_INVALID);
}

int main(void)
{
	test_phases();
	test_key();
	test_round_trip();
	test_largest();
	test_damage();
	test_rules();
	return check_report();
}
