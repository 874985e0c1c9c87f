/* SPDX-License-Identifier: MIT */
/* The commands on signatures and downloads: sign, verify, fetch. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "results.h"
#include "trust.h"

/* A file named on the command line, whole, into `out` (the caller's). */
static int read_whole(struct st7_cli *cli, const char *path, size_t max, struct st7_buf *out,
                      struct st7_diag *d)
{
	return st7_store_read(&cli->store, path, max, 0, out, d);
}

int st7_cmd_sign(struct st7_cli *cli)
{
	const char *path = cli->argv[0], *key_path = cli->s.key, *out_path = cli->s.output;
	enum st7_sig_padding padding = cli->s.pss ? ST7_SIG_PSS : ST7_SIG_PKCS1V15;
	struct st7_diag d = { "" };
	struct st7_buf key, sig;
	uint8_t digest[ST7_SHA256_LEN];
	uint64_t size = 0;
	char sig_path[PATH_MAX], hex[2 * ST7_SHA256_LEN + 1];
	struct st7_store_entry st;
	int ret;
	if (!out_path) {
		if (st7_sig_name(path, sig_path, sizeof(sig_path)) != ST7_OK)
			return st7_cli_usage(cli, "path too long");
		out_path = sig_path;
	}
	st7_buf_init(&key);
	st7_buf_init(&sig);
	if (st7_store_stat(&cli->store, key_path, &st, NULL) == ST7_OK && (st.perm & 077))
		st7_warn("%s: a private key others can read (chmod 600)", key_path);
	if ((ret = read_whole(cli, key_path, ST7_KEY_FILE_MAX, &key, &d)) != ST7_OK ||
	    (ret = st7_sha256_file(&cli->store, path, digest, &size, &d)) != ST7_OK) {
		st7_err("%s", d.msg);
	} else if ((ret = st7_sign_digest(key.data, key.len, padding, digest, &sig, &d)) !=
	           ST7_OK) {
		st7_err("%s: %s", key_path, d.msg);
	} else if ((ret = st7_store_write_atomic(&cli->store, out_path, sig.data, sig.len, 0644, 0,
	                                         &d)) != ST7_OK) {
		st7_err("%s", d.msg);
	} else {
		st7_sha256_hex(digest, hex);
		printf("%s: signature of %s (%llu bytes, sha256 %s)\n", out_path, path,
		       (unsigned long long)size, hex);
	}
	if (key.data)
		memset(key.data, 0, key.len);
	st7_buf_free(&key);
	st7_buf_free(&sig);
	return st7_exit_for(ret, ST7_STEP_FILE);
}

int st7_cmd_verify(struct st7_cli *cli)
{
	const char *path = cli->argv[0];
	struct st7_diag d = { "" };
	const struct st7_keyring *keys = NULL;
	struct st7_buf sig;
	uint8_t digest[ST7_SHA256_LEN];
	uint64_t size = 0;
	char sig_path[PATH_MAX], hex[2 * ST7_SHA256_LEN + 1] = "",
	                                                  signer[ST7_KEY_NAME_MAX + 32] = "";
	int ret;
	bool fits = cli->argc == 2 ? snprintf(sig_path, sizeof(sig_path), "%s", cli->argv[1]) <
	                                     (int)sizeof(sig_path)
	                           : st7_sig_name(path, sig_path, sizeof(sig_path)) == ST7_OK;
	if (!fits)
		return st7_cli_usage(cli, "path too long");
	st7_buf_init(&sig);
	if ((ret = st7_run_keys(&cli->run, cli->s.keys_dir, &keys, &d)) == ST7_OK &&
	    (ret = st7_sha256_file(&cli->store, path, digest, &size, &d)) == ST7_OK) {
		st7_sha256_hex(digest, hex);
		ret = read_whole(cli, sig_path, ST7_SIG_MAX, &sig, &d);
		if (ret == ST7_ERR_TOO_LARGE) /* larger than any signature: not a valid one */
			ret = ST7_ERR_SIGNATURE;
		if (ret == ST7_OK)
			ret = st7_keyring_verify(keys, digest, sig.data, sig.len, signer,
			                         sizeof(signer), &d);
	}
	if (cli->s.json) {
		struct st7_buf b;
		st7_buf_init(&b);
		st7_result_verify_json(path, sig_path, ret == ST7_OK, signer, hex, size, d.msg, &b);
		st7_cli_emit(&b);
		st7_buf_free(&b);
	}
	if (ret != ST7_OK)
		st7_err("%s: %s", path, d.msg);
	else if (!cli->s.json)
		printf("%s: good signature by %s\n", path, signer);
	st7_buf_free(&sig);
	return st7_exit_for(ret, ST7_STEP_FILE);
}

int st7_cmd_fetch(struct st7_cli *cli)
{
	const char *url = cli->argv[0], *out = cli->s.output;
	struct st7_source_report r;
	struct st7_buf img, sig, text;
	struct st7_diag d = { "" };
	char sig_out[PATH_MAX];
	if (!st7_url_is_remote(url))
		return st7_cli_usage(cli, "'%s' is not an https:// URL", url);
	if (out && st7_sig_name(out, sig_out, sizeof(sig_out)) != ST7_OK)
		return st7_cli_usage(cli, "-o: path too long");
	st7_buf_init(&img);
	st7_buf_init(&sig);
	st7_buf_init(&text);
	int rc = st7_cli_obtain(cli, url, &img, &sig, &r, &d);
	st7_cli_progress_end(cli);
	if (rc == ST7_EXIT_OK && out) {
		int ret = st7_store_write_atomic(&cli->store, out, img.data, img.len, 0644, 0, &d);
		if (ret == ST7_OK && sig.len)
			ret = st7_store_write_atomic(&cli->store, sig_out, sig.data, sig.len, 0644,
			                             0, &d);
		if (ret)
			st7_err("%s", d.msg);
		rc = st7_exit_for(ret, ST7_STEP_FILE);
	}
	if (cli->s.json)
		st7_result_fetch_json(url, &r, rc, out, img.len, rc ? d.msg : NULL, &text);
	else if (rc == ST7_EXIT_OK)
		st7_result_fetch_text(url, &r, img.len, out, &text);
	st7_cli_emit(&text);
	st7_buf_free(&text);
	st7_buf_free(&img);
	st7_buf_free(&sig);
	return rc;
}
