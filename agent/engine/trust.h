/* SPDX-License-Identifier: MIT */
/*
 * Trust decisions above the verify interface: which keys are trusted (a key directory)
 * and whether some bytes carry a valid signature from one of them.
 *
 * The key directory (default /etc/st7dfu/keys) holds one public key per `*.pem` file;
 * several at once allow key rotation, and deleting a file revokes that key. Fail closed:
 * - the directory must be owned by root or by us and not writable by group or others
 *   (anyone could add a key, or revive a parked one);
 * - a key file that is a symbolic link, not a regular file, writable by group or others,
 *   not owned by root or by us, unparsable, or of a refused type/size is skipped with a
 *   warning naming it (checked on the opened descriptor, so it cannot change meanwhile);
 * - no usable key at all is an error (ST7_ERR_SIGNATURE): nothing can be trusted.
 * Other file names (README, *.disabled, dot files) are ignored, so a key can be parked.
 */
#ifndef ST7_TRUST_H
#define ST7_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "verify.h"

#define ST7_DEFAULT_KEYS_DIR "/etc/st7dfu/keys"

/* Load every usable key from `dir` into `k` (initialised by the caller). */
int st7_keyring_load_dir(struct st7_keyring *k, const char *dir, struct st7_diag *d);

/* SHA-256 of a file, read in chunks (no size limit, constant memory). */
int st7_sha256_file(const char *path, uint8_t digest[ST7_SHA256_LEN], uint64_t *size,
                    struct st7_diag *d);

#endif
