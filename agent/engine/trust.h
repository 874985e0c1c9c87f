/* SPDX-License-Identifier: MIT */
/*
 * Trust decisions above the verify interface: which keys are trusted (a key directory)
 * and whether some bytes carry a valid signature from one of them.
 *
 * The key directory (default /etc/st7dfu/keys) holds one public key per `*.pem` file;
 * several at once allow key rotation, and deleting a file revokes that key. Fail closed:
 * - the key-directory rule (st7_keys_dir_check, the one place it is written): the
 *   directory itself, never followed if it is a symbolic link (lstat), must be a
 *   directory owned by root or by us and not writable by group or others (anyone could
 *   add a key, or revive a parked one);
 * - a key file that is a symbolic link, not a regular file, writable by group or others,
 *   not owned by root or by us, unparsable, or of a refused type/size is skipped with a
 *   warning naming it (checked on the opened descriptor, so it cannot change meanwhile);
 * - no usable key at all is an error (ST7_ERR_SIGNATURE): nothing can be trusted.
 * Other file names (README, *.disabled, dot files) are ignored, so a key can be parked.
 *
 * Every file is read through the store interface (store.h).
 */
#ifndef ST7_TRUST_H
#define ST7_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "verify.h"

#define ST7_DEFAULT_KEYS_DIR "/etc/st7dfu/keys"

/* The key-directory rule above: ST7_OK, or ST7_ERR_SIGNATURE saying why no key in `dir`
 * is trusted. */
int st7_keys_dir_check(struct st7_store *s, const char *dir, struct st7_diag *d);

/* Load every usable key from `dir` (after st7_keys_dir_check) into `k` (initialised by
 * the caller). */
int st7_keyring_load_dir(struct st7_keyring *k, struct st7_store *s, const char *dir,
                         struct st7_diag *d);

/* SHA-256 of a file, read in chunks (no size limit, constant memory). */
int st7_sha256_file(struct st7_store *s, const char *path, uint8_t digest[ST7_SHA256_LEN],
                    uint64_t *size, struct st7_diag *d);

/*
 * The detached signature's name for `of` (a file or URL): "OF.sig", what `st7dfu sign`
 * writes, `verify` and every image source look for, and `fetch -o` stores beside its
 * output. ST7_ERR_INVALID when it does not fit `size`.
 */
#define ST7_SIG_SUFFIX ".sig"
int st7_sig_name(const char *of, char *out, size_t size);

#endif
