/* SPDX-License-Identifier: MIT */
/*
 * core/manifest_source: the manifest is believed only after its signature (over the
 * exact bytes) and against the last accepted one and the clock. Real files in a temp
 * directory, the real store and mbedTLS; the keys below are throw-away test keys.
 * Each attack of the list that a local manifest can play is refused, with
 * nothing recorded: unsigned, untrusted key, replay (lower serial), one serial with two
 * contents, expired, unset clock, clock before the last issued, oversized.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "decide.h"
#include "dfu_file.h"
#include "st7_profile.h"
#include "parse_util.h"
#include "manifest_source.h"
#include "verify.h"

static const char trusted_key[] =
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MHcCAQEEIJZ6G9vKp034nYiuoLn7YTr4AdDl2Lwx0yCxtO3Ymvz8oAoGCCqGSM49\n"
        "AwEHoUQDQgAEfgp9rMbDs5hE5OqPnaANzKxpSQpZ22vxMCU6+f5/kScvEUDgwPhI\n"
        "Kl70k0x2iFIgsQdAYBXyUV9z451s8vzF0g==\n"
        "-----END EC PRIVATE KEY-----\n";
;
static const char trusted_pub[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfgp9rMbDs5hE5OqPnaANzKxpSQpZ\n"
        "22vxMCU6+f5/kScvEUDgwPhIKl70k0x2iFIgsQdAYBXyUV9z451s8vzF0g==\n"
        "-----END PUBLIC KEY-----\n";
;
static const char other_key[] = "-----BEGIN EC PRIVATE KEY-----\n"
                                "MHcCAQEEIAssbpf2gZZp8bhOapuci1yotYFF1UY/EW+q64xhafAyoAoGCCqGSM49\n"
                                "AwEHoUQDQgAEYJVCTVe/uC4areR21gP9D3w4MCIIu1ANDYc9gVBfMp+PkT8H5ij4\n"
                                "evCm/tGu0hdhFWbuDI9NZqyXAxhGNlrDmw==\n"
                                "-----END EC PRIVATE KEY-----\n";
;

static char dir[] = "/tmp/st7-manifest-src.XXXXXX";
static char keys[4096], state[4096], mpath[4096];
static struct st7_store store;
static struct st7_run run;

#define DAY 86400
static const int64_t T0 = 1795000000; /* 2026-11-18 */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n);
	if (f)
		fclose(f);
}

/* A manifest with this serial, issued and expiring at these times, signed with `key`. */
static void publish(uint64_t serial, int64_t issued, int64_t expires, const char *key,
                    const char *extra)
{
	static char text[80000];
	char is[32], ex[32], sigpath[4200];
	st7_format_utc(issued, is, sizeof(is));
	st7_format_utc(expires, ex, sizeof(ex));
	int n = snprintf(text, sizeof(text),
	                 "[manifest]\nserial = %llu\nissued = %s\nexpires = %s\n%s"
	                 "[release \"reader-2.37\"]\nmatch = 0483:ff03\nversion = 0x0237\n"
	                 "url = reader.dfu\nsha256 = %064d\nsize = 28688\n",
	                 (unsigned long long)serial, is, ex, extra, 0);
	CHECK(n > 0 && (size_t)n < sizeof(text));
	if (n <= 0 || (size_t)n >= sizeof(text))
		return;
	write_file(mpath, text, (size_t)n);
	uint8_t digest[32];
	struct st7_buf sig;
	struct st7_diag d = { "" };
	st7_buf_init(&sig);
	CHECK_INT(st7_sha256(text, (size_t)n, digest), ST7_OK);
	CHECK_INT(st7_sign_digest((const uint8_t *)key, strlen(key) + 1, ST7_SIG_PKCS1V15, digest,
	                          &sig, &d),
	          ST7_OK);
	snprintf(sigpath, sizeof(sigpath), "%s.sig", mpath);
	write_file(sigpath, sig.data, sig.len);
	st7_buf_free(&sig);
}

/* Obtain at `now`; the expected error (ST7_OK for believed) and a text in its message. */
static void obtain(int64_t now, bool record, int want, const char *msg, uint64_t want_serial)
{
	struct st7_manifest m;
	struct st7_manifest_report rep;
	struct st7_diag d = { "" };
	struct st7_manifest_opts o = { .url = mpath,
		                       .keys_dir = keys,
		                       .state_dir = state,
		                       .now = now,
		                       .build_time = T0 - 30 * DAY,
		                       .record = record };
	st7_manifest_init(&m);
	int ret = st7_manifest_obtain(&run, &o, &m, &rep, &d);
	if (ret != want)
		fprintf(stderr, "obtain: %d (%s), wanted %d\n", ret, d.msg, want);
	CHECK_INT(ret, want);
	if (msg)
		CHECK_HAS(d.msg, msg);
	if (ret == ST7_OK) {
		CHECK(m.serial == want_serial);
		CHECK_INT(m.n_releases, 1);
		CHECK_HAS(rep.signer, "trusted.pem");
	} else {
		CHECK_INT(m.n_releases, 0);
	}
	st7_manifest_free(&m);
}

/* An ST72F65 image at `version` (suffix and version word), for `vid`:`pid`. */
static void st7_image(uint16_t vid, uint16_t pid, uint16_t suffix_bcd, uint16_t word,
                      struct st7_buf *out)
{
	const struct st7_profile *p = st7_profile_find("st72f65");
	size_t n = st7_profile_region_size(p);
	uint8_t *payload = malloc(n);
	struct st7_diag d = { "" };
	struct st7_dfu_ids ids = { vid, pid, suffix_bcd, 0 };
	CHECK(payload != NULL);
	if (!payload)
		return;
	memset(payload, 0x9D, n);
	payload[n - 2] = (uint8_t)(word >> 8);
	payload[n - 1] = (uint8_t)word;
	CHECK_INT(st7_dfu_build_plain(payload, n, &ids, out, &d), ST7_OK);
	free(payload);
}

/* The image a release names: size, hash, target, version; a swapped image is refused. */
static void test_release_image(void)
{
	struct st7_buf good, other, bad_word, bad_vid;
	struct st7_release r;
	struct st7_diag d = { "" };
	st7_buf_init(&good);
	st7_buf_init(&other);
	st7_buf_init(&bad_word);
	st7_buf_init(&bad_vid);
	st7_image(0x0483, 0xff03, 0x0103, 0x0103, &good);
	st7_image(0x0483, 0xff03, 0x0104, 0x0104, &other); /* another release's valid image */
	st7_image(0x0483, 0xff03, 0x0103, 0x0102, &bad_word);
	st7_image(0x0483, 0xff04, 0x0103, 0x0103, &bad_vid);
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "reader-1.03");
	r.vid = 0x0483;
	r.pid = 0xff03;
	r.version = 0x0103;
	r.size = good.len;
	CHECK_INT(st7_sha256(good.data, good.len, r.sha256), ST7_OK);
	CHECK_INT(st7_release_image_check(&r, good.data, good.len, &d), ST7_OK);
	/* Swapped for another release's image of the same size: its hash gives it away. */
	CHECK_INT(other.len, good.len);
	CHECK_INT(st7_release_image_check(&r, other.data, other.len, &d), ST7_ERR_SIGNATURE);
	CHECK_HAS(d.msg, "mix-and-match");
	/* Longer or shorter than the manifest says. */
	CHECK_INT(st7_release_image_check(&r, good.data, good.len - 1, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bytes");
	/* A manifest whose hash names an image of the wrong target or version (its own
	 * mistake, or a signing key's): the suffix and version word are checked too. */
	r.size = bad_vid.len;
	CHECK_INT(st7_sha256(bad_vid.data, bad_vid.len, r.sha256), ST7_OK);
	CHECK_INT(st7_release_image_check(&r, bad_vid.data, bad_vid.len, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "0483:ff04");
	CHECK_INT(st7_sha256(bad_word.data, bad_word.len, r.sha256), ST7_OK);
	CHECK_INT(st7_release_image_check(&r, bad_word.data, bad_word.len, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "version word");
	CHECK_INT(st7_sha256(other.data, other.len, r.sha256), ST7_OK);
	CHECK_INT(st7_release_image_check(&r, other.data, other.len, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bcdDevice");
	st7_buf_free(&good);
	st7_buf_free(&other);
	st7_buf_free(&bad_word);
	st7_buf_free(&bad_vid);
}

int main(void)
{
	test_release_image();
	struct st7_diag d = { "" };
	if (!mkdtemp(dir) || st7_store_posix_init(&store, &d) != ST7_OK) {
		fprintf(stderr, "setup: %s\n", d.msg);
		return 1;
	}
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(mpath, sizeof(mpath), "%s/manifest.ini", dir);
	CHECK(mkdir(keys, 0755) == 0 && mkdir(state, 0700) == 0);
	char kp[4200];
	snprintf(kp, sizeof(kp), "%s/trusted.pem", keys);
	write_file(kp, trusted_pub, strlen(trusted_pub));
	chmod(kp, 0644);
	st7_run_init(&run);
	run.store = &store;

	/* Believed; recorded. */
	publish(10, T0, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + DAY, false, ST7_OK, NULL, 10);
	obtain(T0 + DAY, true, ST7_OK, NULL, 10);
	/* Equal serial, same bytes: unchanged, fine. */
	obtain(T0 + DAY, true, ST7_OK, NULL, 10);
	/* A newer one. */
	publish(11, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_OK, NULL, 11);
	/* Replay of an old one, validly signed: refused. */
	publish(10, T0, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "rollback", 0);
	/* The same serial with other content. */
	publish(11, T0 + 2 * DAY, T0 + 31 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "two different manifests", 0);
	/* Expired (a freeze attack). */
	publish(12, T0 + 2 * DAY, T0 + 4 * DAY, trusted_key, "");
	obtain(T0 + 5 * DAY, true, ST7_ERR_REFUSED, "expired", 0);
	/* An unset clock: before the build, and before the last accepted issued. */
	publish(12, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(0, true, ST7_ERR_REFUSED, "before this build", 0);
	obtain(T0 + DAY, true, ST7_ERR_REFUSED, "before the last accepted manifest", 0);
	/* Issued in the future. */
	publish(13, T0 + 9 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "clock is wrong", 0);
	/* Signed by a key nobody trusts; and a signature of other bytes. */
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, other_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_SIGNATURE, "nothing of it was read", 0);
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	FILE *f = fopen(mpath, "ab");
	CHECK(f && fputs("; appended after signing\n", f) >= 0);
	if (f)
		fclose(f);
	obtain(T0 + 3 * DAY, true, ST7_ERR_SIGNATURE, NULL, 0);
	/* A bad manifest with a good signature: parsed only after the check, and refused. */
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "bogus = 1\n");
	obtain(T0 + 3 * DAY, true, ST7_ERR_FORMAT, "bogus", 0);
	/* Oversized: cut at the cap. */
	char pad[70000];
	memset(pad, ';', sizeof(pad) - 2);
	pad[sizeof(pad) - 2] = '\n';
	pad[sizeof(pad) - 1] = '\0';
	publish(15, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, pad);
	obtain(T0 + 3 * DAY, true, ST7_ERR_TOO_LARGE, NULL, 0);
	/* After all these refusals the accepted serial is still 11: 14 is believed. */
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_OK, NULL, 14);
	/* A key file removed = revoked: nothing is trusted now. */
	unlink(kp);
	st7_run_free(&run);
	st7_run_init(&run);
	run.store = &store;
	obtain(T0 + 3 * DAY, true, ST7_ERR_SIGNATURE, NULL, 0);
	/* A torn state record is an error, never "nothing accepted yet". */
	write_file(kp, trusted_pub, strlen(trusted_pub));
	st7_run_free(&run);
	st7_run_init(&run);
	run.store = &store;
	char cmd[8400];
	snprintf(cmd, sizeof(cmd),
	         "for f in %s/manifest-*.state; do head -c 20 \"$f\" > \"$f.t\" && mv \"$f.t\" "
	         "\"$f\"; done",
	         state);
	CHECK(system(cmd) == 0);
	obtain(T0 + 3 * DAY, true, ST7_ERR_FORMAT, "last accepted manifest", 0);

	/* A person removed the torn record: the next good manifest starts it again. */
	snprintf(cmd, sizeof(cmd), "rm -f %s/manifest-*.state", state);
	CHECK(system(cmd) == 0);
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_OK, NULL, 14);
	/* A newer serial that claims an older issued date is refused (the clock floor never
	 * moves back). The record now says serial 14, issued T0 + 2 days. */
	publish(16, T0 + DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "issued before the last accepted", 0);
	/* The same manifest spelt file:// shares the record: a replay through it is refused. */
	char saved[2048];
	snprintf(saved, sizeof(saved), "%.2000s", mpath);
	publish(13, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	snprintf(mpath, sizeof(mpath), "file://%s", saved);
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "rollback", 0);
	snprintf(mpath, sizeof(mpath), "%s/.//manifest.ini", dir);
	obtain(T0 + 3 * DAY, true, ST7_ERR_REFUSED, "rollback", 0);
	/* A relative path would depend on the working directory: refused. */
	snprintf(mpath, sizeof(mpath), "manifest.ini");
	obtain(T0 + 3 * DAY, true, ST7_ERR_INVALID, "absolute", 0);
	/* A directory whose name holds " ;" (an inline comment to inih): the record written
	 * for it must read back. */
	char odd[2048];
	snprintf(odd, sizeof(odd), "%s/d ;x", dir);
	CHECK(mkdir(odd, 0755) == 0);
	snprintf(mpath, sizeof(mpath), "%s/manifest.ini", odd);
	publish(1, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_OK, NULL, 1);
	obtain(T0 + 3 * DAY, true, ST7_OK, NULL, 1);
	snprintf(mpath, sizeof(mpath), "%s", saved);
	/* A record with a repeated key is damage, not a lower serial. */
	snprintf(cmd, sizeof(cmd),
	         "for f in %s/manifest-*.state; do printf '[accepted]\\nserial = 70\\nserial = 1\\n"
	         "issued = 2026-01-01T00:00:00Z\\nsha256 = %%064d\\n' 0 > \"$f\"; done",
	         state);
	CHECK(system(cmd) == 0);
	publish(14, T0 + 2 * DAY, T0 + 30 * DAY, trusted_key, "");
	obtain(T0 + 3 * DAY, true, ST7_ERR_FORMAT, "duplicate key 'serial'", 0);

	/* The attempts history: missing = empty; a good one; a torn one is an error. */
	struct st7_plan_attempts *at = NULL;
	size_t n = 0;
	CHECK_INT(st7_attempts_load(&store, state, &at, &n, &d), ST7_OK);
	CHECK_INT(n, 0);
	char ap[4200];
	snprintf(ap, sizeof(ap), "%s/attempts.ini", state);
	char good[512];
	int gl = snprintf(good, sizeof(good),
	                  "[attempt \"1\"]\nserial = ST7-0001\nrelease = reader-2.37\nsha256 = "
	                  "%064d\nfailures = 3\n",
	                  7);
	write_file(ap, good, (size_t)gl);
	CHECK_INT(st7_attempts_load(&store, state, &at, &n, &d), ST7_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK(strcmp(at[0].serial, "ST7-0001") == 0 && at[0].failures == 3);
		CHECK(at[0].sha256[31] == 0x07);
	}
	free(at);
	write_file(ap, good, (size_t)gl - 14);
	CHECK(st7_attempts_load(&store, state, &at, &n, &d) == ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "incomplete");
	/* A second `failures` must not wipe the count. */
	char dup[600];
	int dl = snprintf(dup, sizeof(dup), "%.*sfailures = 0\n", gl, good);
	write_file(ap, dup, (size_t)dl);
	CHECK(st7_attempts_load(&store, state, &at, &n, &d) == ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "duplicate");

	st7_run_free(&run);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	st7_store_free(&store);
	return check_report();
}
