/* SPDX-License-Identifier: MIT */
/*
 * The upgrade decisions (core/upgrade.h) in-process, against tests/cli/faults.sh: every
 * emulator fault x command (st7_upgrade, st7_rollback, st7_download, st7_upload_to_file)
 * x device kind, over the test transport and a fake clock, a private state directory per
 * case. The ROWS of faults.sh are read from the script itself: they are the oracle, so
 * the in-process results and the umockdev ones answer to the same promises, with the same
 * checks on the device (firmware, mode, version), the backups, the upload file and the
 * exit code each outcome maps to (emu_expect.c).
 *
 * argv[1]: tests/cli/faults.sh (default: the source tree's). ONLY=substring runs the
 * matching cases; ST7_TEST_VERBOSE=1 shows the agent's log; KEEP=1 keeps the files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "emu_expect.h"

#ifndef ST7_FAULTS_SH
#define ST7_FAULTS_SH "tests/cli/faults.sh"
#endif

/* ---- The oracle: faults.sh's ROWS ------------------------------------------------------ */

static const char *voff_for(enum rig_kind k)
{
	return k == RIG_ST7 ? "0x6FFE" : "0x1FFC";
}

/* faults.sh's gs_for: the N-th GETSTATUS, inside the command's download phase. */
static int gs_for(enum rig_kind k, enum ex_cmd c)
{
	if (c == CMD_UPLOAD)
		return 1;
	if (c == CMD_UPGRADE)
		return k == RIG_ST7 ? 40 : k == RIG_DFU11 ? 6 : 125;
	return k == RIG_ST7 ? 40 : k == RIG_DFU11 ? 4 : 20;
}

static void subst(char *out, size_t cap, const char *in, enum rig_kind k, enum ex_cmd c)
{
	size_t w = 0;
	out[0] = '\0';
	while (*in && w + 1 < cap) {
		char val[16] = "";
		size_t skip = 0;
		if (!strncmp(in, "@BLK@", 5))
			snprintf(val, sizeof(val), "%d", ex_blk_for(k)), skip = 5;
		else if (!strncmp(in, "@VOFF@", 6))
			snprintf(val, sizeof(val), "%s", voff_for(k)), skip = 6;
		else if (!strncmp(in, "@GS@", 4))
			snprintf(val, sizeof(val), "%d", gs_for(k, c)), skip = 4;
		if (skip) {
			w += (size_t)snprintf(out + w, cap - w, "%s", val);
			in += skip;
		} else {
			out[w++] = *in++;
			out[w] = '\0';
		}
	}
}

/* "CMD[/KIND]:EXITS[:MODE]": parse EXITS[:MODE] into the case. */

/* The cases of one row (name|spec|kinds|expectations|options), as faults.sh builds
 * them. */
static size_t row_cases(char *line, struct fcase *out, size_t cap)
{
	char *field[5] = { 0 };
	size_t nf = 0, n = 0;
	for (char *p = line; nf < 5; nf++) {
		field[nf] = p;
		char *bar = strchr(p, '|');
		if (!bar) {
			nf++;
			break;
		}
		*bar = '\0';
		p = bar + 1;
	}
	if (nf < 4 || !field[0][0])
		return 0;
	for (int c = 0; c < CMDS; c++)
		for (int k = 0; k < RIG_KINDS; k++) {
			if (field[2][0] && !strstr(field[2], rig_kind_name((enum rig_kind)k)))
				continue;
			struct fcase fc = { 0 };
			char expect[256], key[32], kkey[32];
			bool found = false;
			snprintf(key, sizeof(key), "%s:", ex_cmd_names[c]);
			snprintf(kkey, sizeof(kkey), "%s/%s:", ex_cmd_names[c],
			         rig_kind_name((enum rig_kind)k));
			snprintf(expect, sizeof(expect), "%s", field[3]);
			for (char *save = NULL, *tok = strtok_r(expect, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				if (!found && !strncmp(tok, key, strlen(key))) {
					ex_set_expect(&fc, tok + strlen(key));
					found = true;
				}
				if (!strncmp(tok, kkey, strlen(kkey))) {
					ex_set_expect(&fc, tok + strlen(kkey));
					found = true;
				}
			}
			if (!found || n == cap)
				continue;
			snprintf(fc.name, sizeof(fc.name), "%s", field[0]);
			subst(fc.spec, sizeof(fc.spec), field[1], (enum rig_kind)k, (enum ex_cmd)c);
			snprintf(fc.opts, sizeof(fc.opts), "%s", nf > 4 ? field[4] : "");
			fc.cmd = (enum ex_cmd)c;
			fc.kind = (enum rig_kind)k;
			out[n++] = fc;
		}
	return n;
}

/* Every case of the ROWS heredoc in faults.sh. */
static size_t load_oracle(const char *path, struct fcase *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool in_rows = false, seen_rows = false;
	size_t n = 0;
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!seen_rows) {
			seen_rows = !strncmp(line, "ROWS=$(", 7);
			continue;
		}
		if (!in_rows) {
			in_rows = strstr(line, "<<'EOF'") != NULL;
			continue;
		}
		if (!strcmp(line, "EOF"))
			break;
		n += row_cases(line, out + n, cap - n);
	}
	fclose(f);
	return n;
}

/* faults.sh waits for a device with a finite replug-ms to come back before its report;
 * in model time, 400 ms covers the matrix's replug-ms (100). */
static void settle(struct fcase *c)
{
	const char *rp = strstr(c->spec, "replug-ms=");
	c->settle_ms = rp && rp[10] >= '0' && rp[10] <= '9' ? 400 : 0;
}

static void test_fault_matrix(const char *faults_sh)
{
	enum { MAX_CASES = 512 };
	struct fcase *cases = calloc(MAX_CASES, sizeof(*cases));
	size_t n = cases ? load_oracle(faults_sh, cases, MAX_CASES) : 0;
	CHECK(n >= 100); /* the oracle was found and read */
	printf("fault matrix (%s): %zu cases\n", faults_sh, n);
	for (size_t i = 0; i < n; i++) {
		char what[160];
		snprintf(what, sizeof(what), "%s %s %s", cases[i].name, ex_cmd_names[cases[i].cmd],
		         rig_kind_name(cases[i].kind));
		if (S.only && !strstr(what, S.only))
			continue;
		settle(&cases[i]);
		ex_run_case("", (unsigned)i + 1, &cases[i], NULL);
	}
	free(cases);
}

int main(int argc, char **argv)
{
	if (ex_suite_setup("test_upgrade_emu"))
		return 1;
	test_fault_matrix(argc > 1 ? argv[1] : ST7_FAULTS_SH);
	check_passed += S.passed;
	check_failed += ex_suite_finish();
	return check_report();
}
