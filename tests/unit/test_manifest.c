/* SPDX-License-Identifier: MIT */
/*
 * formats/manifest: a full manifest read back field by field, each refusal with its
 * NAME:LINE and the key it names (the manifest left empty), and URL resolution.
 */
#include <string.h>

#include "check.h"
#include "manifest.h"

#define HEAD \
	"[manifest]\nserial = 42\nissued = 2026-11-26T00:00:00Z\nexpires = 2026-12-31T00:00:00Z\n"
#define SHA "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define REL                                                                                  \
	"[release \"r1\"]\nmatch = 0483:ff03\nversion = 0x0237\nurl = r1.dfu\nsha256 = " SHA \
	"\nsize = 28688\n"

static int parse(const char *text, struct st7_manifest *m, struct st7_diag *d)
{
	return st7_manifest_parse("m.ini", (const uint8_t *)text, strlen(text), m, d);
}

static void test_good(void)
{
	struct st7_manifest m;
	struct st7_diag d = { "" };
	st7_manifest_init(&m);
	const char *text = HEAD REL "[release \"r2\"]\nmatch = 0483:FF04\nprofile = st72f65\n"
	                            "serial = ST7-1*\nversion = 2.38\nfrom = 0x0100-0x0236\n"
	                            "url = https://cdn.example/r2.dfu\nsha256 = " SHA "\n"
	                            "size = 1K\nrollout = 25\nnot_before = 2026-11-27T12:00:00Z\n"
	                            "paused = yes\nchannel = beta-1\ndowngrade = true\n";
	int ret = parse(text, &m, &d);
	CHECK_INT(ret, ST7_OK);
	if (ret != ST7_OK) {
		fprintf(stderr, "  %s\n", d.msg);
		return;
	}
	CHECK_INT(m.serial, 42);
	CHECK_INT(m.issued, 1795651200);
	CHECK_INT(m.expires, 1798675200);
	CHECK_INT(m.n_releases, 2);
	const struct st7_release *a = &m.releases[0], *b = &m.releases[1];
	CHECK(strcmp(a->name, "r1") == 0);
	CHECK_INT(a->vid, 0x0483);
	CHECK_INT(a->pid, 0xff03);
	CHECK_INT(a->version, 0x0237);
	CHECK(!a->has_from && !a->has_not_before && !a->paused && !a->downgrade);
	CHECK_INT(a->rollout, 100);
	CHECK(a->profile[0] == '\0' && a->serial_glob[0] == '\0' && a->channel[0] == '\0');
	CHECK(strcmp(a->url, "r1.dfu") == 0);
	CHECK_INT(a->sha256[0], 0x00);
	CHECK_INT(a->sha256[31], 0xff);
	CHECK_INT(a->size, 28688);
	CHECK_INT(a->line, 5);
	CHECK(strcmp(b->profile, "st72f65") == 0);
	CHECK(strcmp(b->serial_glob, "ST7-1*") == 0);
	CHECK_INT(b->version, 0x0238);
	CHECK(b->has_from && b->from_lo == 0x0100 && b->from_hi == 0x0236);
	CHECK_INT(b->size, 1024);
	CHECK_INT(b->rollout, 25);
	CHECK(b->has_not_before && b->not_before == 1795651200 + 86400 + 43200);
	CHECK(b->paused && b->downgrade);
	CHECK(strcmp(b->channel, "beta-1") == 0);
	/* Parsing again replaces the content, no leak. */
	CHECK_INT(parse(HEAD "from_nowhere = 1\n", &m, &d), ST7_ERR_FORMAT);
	CHECK(m.releases == NULL && m.n_releases == 0 && m.serial == 0);
	CHECK_INT(parse(HEAD "[release \"x\"]\nmatch=1:2\nversion=1.00\nfrom=0x0100\nurl=u\n"
	                     "sha256=" SHA "\nsize=1\n",
	                &m, &d),
	          ST7_OK);
	CHECK(m.n_releases == 1 && m.releases[0].from_lo == 0x100 &&
	      m.releases[0].from_hi == 0x100);
	st7_manifest_free(&m);
	st7_manifest_free(&m); /* safe twice */
}

static void test_refused(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "m.ini: no [manifest] section" },
		{ REL, "m.ini: no [manifest] section" },
		{ HEAD "[manifest]\n", "m.ini:5: a second [manifest] section" },
		{ HEAD "[other]\n", "m.ini:5: unknown section [other]" },
		{ HEAD "[release]\n", "m.ini:5: unknown section [release]" },
		{ HEAD "[manifest \"x\"]\n", "m.ini:5: unknown section" },
		{ HEAD "[release \"\"]\n", "m.ini:5:" },
		{ "k = v\n" HEAD, "m.ini:1: key 'k' outside a section" },
		{ HEAD "seriall = 4\n",
		  "m.ini:5: unknown key 'seriall' in [manifest] (did you mean 'serial'?)" },
		{ HEAD REL "urll = x\n",
		  "m.ini:11: unknown key 'urll' in [release \"r1\"] (did you mean 'url'?)" },
		{ HEAD REL "zzzzzz = x\n", "m.ini:11: unknown key 'zzzzzz' in [release \"r1\"]" },
		{ HEAD "serial = 43\n", "m.ini:5: duplicate key 'serial' in [manifest]" },
		{ HEAD REL "size = 3\n", "m.ini:11: duplicate key 'size'" },
		{ HEAD REL REL, "m.ini:11: duplicate release \"r1\" (first at line 5)" },
		{ "[manifest]\nserial = 0\n", "m.ini:2: serial" },
		{ "[manifest]\nserial = 9007199254740993\n", "m.ini:2: serial" },
		{ "[manifest]\nissued = 2026-02-29T00:00:00Z\n", "m.ini:2: issued" },
		{ "[manifest]\nexpires = 2026-12-31 00:00:00\n", "m.ini:2: expires" },
		{ "[manifest]\nserial = 1\nissued = 2026-11-26T00:00:00Z\n",
		  "m.ini:1: missing key 'expires' in [manifest]" },
		{ "[manifest]\nserial = 1\nissued = 2026-11-26T00:00:00Z\nexpires = "
		  "2026-11-26T00:00:00Z\n",
		  "m.ini:1: expires is not after issued" },
		{ HEAD "[release \"r\"]\nmatch = 0483:ff03\n",
		  "m.ini:5: missing key 'version' in [release \"r\"]" },
		{ HEAD REL "[release \"r2\"]\nversion = 1.00\n", "m.ini:11: missing key 'match'" },
		{ HEAD REL "profile = st99\n", "m.ini:11: profile" },
		{ HEAD REL "serial = a\tb\n", "m.ini:11: serial" },
		{ HEAD REL "from = 0x0236-0x0100\n", "m.ini:11: from: low end above high end" },
		{ HEAD REL "from = 0x0100-\n", "m.ini:11: from" },
		{ HEAD REL "from = 0x01a0\n", "m.ini:11: from" },
		{ HEAD REL "channel = Beta\n", "m.ini:11: channel" },
		{ HEAD REL "channel = "
		           "abcdefghijabcdefghijabcdefghijab\n",
		  "m.ini:11: channel" },
		{ HEAD REL "rollout = 101\n", "m.ini:11: rollout" },
		{ HEAD REL "paused = maybe\n", "m.ini:11: paused" },
		{ HEAD REL "not_before = 2026-13-01T00:00:00Z\n", "m.ini:11: not_before" },
		{ HEAD "[release \"r\"]\nmatch = 0483\n", "m.ini:6: match" },
		{ HEAD "[release \"r\"]\nversion = 0x00ff\n", "m.ini:6: version" },
		{ HEAD "[release \"r\"]\nurl = a b\n", "m.ini:6: url" },
		{ HEAD "[release \"r\"]\nsha256 = " SHA "0\n", "m.ini:6: sha256" },
		{ HEAD "[release \"r\"]\nsha256 = "
		       "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		  "m.ini:6: sha256" },
		{ HEAD "[release \"r\"]\nsize = 0\n", "m.ini:6: size" },
		{ HEAD "[release \"r\"]\nsize = 2G\n", "m.ini:6: size" },
		{ HEAD "[release \"r\"]\n  match = 1:2\n",
		  NULL }, /* an indented key alone is fine... */
		{ HEAD "  x\n", "m.ini:5: unexpected indented line" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st7_manifest m;
		struct st7_diag d = { "" };
		st7_manifest_init(&m);
		int ret = parse(cases[i].text, &m, &d);
		if (!cases[i].msg) {
			/* ...but the release still lacks its required keys. */
			CHECK_INT(ret, ST7_ERR_FORMAT);
			CHECK_HAS(d.msg, "missing key 'version'");
			continue;
		}
		CHECK_INT(ret, ST7_ERR_FORMAT);
		CHECK_HAS(d.msg, cases[i].msg);
		CHECK(m.releases == NULL && m.n_releases == 0 && m.serial == 0);
		st7_manifest_free(&m);
	}
}

static void test_many_releases(void)
{
	static char text[ST7_MANIFEST_MAX_RELEASES * 200 + 400];
	size_t n = 0;
	struct st7_manifest m;
	struct st7_diag d = { "" };
	n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", HEAD);
	for (int i = 0; i < ST7_MANIFEST_MAX_RELEASES; i++)
		n += (size_t)snprintf(
		        text + n, sizeof(text) - n,
		        "[release \"r%d\"]\nmatch=1:2\nversion=1.00\nurl=u\nsha256=" SHA
		        "\nsize=1\n",
		        i);
	st7_manifest_init(&m);
	CHECK_INT(parse(text, &m, &d), ST7_OK);
	CHECK_INT(m.n_releases, ST7_MANIFEST_MAX_RELEASES);
	snprintf(text + n, sizeof(text) - n, "[release \"one-more\"]\n");
	CHECK_INT(parse(text, &m, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "more than 256 releases");
	CHECK(m.n_releases == 0);
	st7_manifest_free(&m);
}

static void test_resolve(void)
{
	static const struct {
		const char *base, *url;
		int ret;
		const char *out;
	} cases[] = {
		{ "https://h.example/fleet/m.ini", "r.dfu", ST7_OK,
		  "https://h.example/fleet/r.dfu" },
		{ "https://h.example/fleet/m.ini?x=1", "sub/r.dfu", ST7_OK,
		  "https://h.example/fleet/sub/r.dfu" },
		{ "https://h.example/fleet/", "r.dfu", ST7_OK, "https://h.example/fleet/r.dfu" },
		{ "https://h.example", "r.dfu", ST7_OK, "https://h.example/r.dfu" },
		{ "https://h.example/fleet/m.ini", "/img/r.dfu", ST7_OK,
		  "https://h.example/img/r.dfu" },
		{ "https://h.example/fleet/m.ini", "https://cdn.example/r.dfu", ST7_OK,
		  "https://cdn.example/r.dfu" },
		{ "/etc/st7dfu/m.ini", "r.dfu", ST7_OK, "/etc/st7dfu/r.dfu" },
		{ "/etc/st7dfu/m.ini", "/srv/r.dfu", ST7_OK, "/srv/r.dfu" },
		/* A local path has no query or fragment: '#' and '?' are its own characters. */
		{ "/tmp/d#h/m.ini", "r.dfu", ST7_OK, "/tmp/d#h/r.dfu" },
		{ "/tmp/d?q/m.ini", "r.dfu", ST7_OK, "/tmp/d?q/r.dfu" },
		{ "m.ini", "r.dfu", ST7_OK, "r.dfu" },
		{ "https://h.example/a/m.ini", "../r.dfu", ST7_ERR_FORMAT, NULL },
		{ "https://h.example/a/m.ini", "x/../../r.dfu", ST7_ERR_FORMAT, NULL },
		{ "https://h.example/a/m.ini", "x/..", ST7_ERR_FORMAT, NULL },
		{ "https://h.example/a/m.ini", "//evil.example/r.dfu", ST7_ERR_FORMAT, NULL },
		{ "https://h.example/a/m.ini", "", ST7_ERR_FORMAT, NULL },
		{ "https://h.example/a/m.ini", "x..y/r.dfu", ST7_OK,
		  "https://h.example/a/x..y/r.dfu" },
		{ "https://h.example/a/m.ini", "0123456789012345678901234567890123456789",
		  ST7_ERR_INVALID, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[48];
		struct st7_diag d = { "" };
		int ret =
		        st7_manifest_resolve_url(cases[i].base, cases[i].url, out, sizeof(out), &d);
		CHECK_INT(ret, cases[i].ret);
		if (ret == ST7_OK && cases[i].out)
			CHECK(strcmp(out, cases[i].out) == 0 ||
			      (fprintf(stderr, "  case %zu: %s\n", i, out), 0));
		if (ret != ST7_OK)
			CHECK(d.msg[0] != '\0');
	}
	char tiny[8];
	CHECK_INT(st7_manifest_resolve_url("/a/m", "abcdefg", tiny, sizeof(tiny), NULL),
	          ST7_ERR_INVALID);
	CHECK_INT(st7_manifest_resolve_url("/m", "abcdef", tiny, sizeof(tiny), NULL), ST7_OK);
	CHECK(strcmp(tiny, "/abcdef") == 0);
}

int main(void)
{
	test_good();
	test_refused();
	test_many_releases();
	test_resolve();
	return check_report();
}
