/* SPDX-License-Identifier: MIT */
/*
 * The verify interface: SHA-256 and detached signatures. The mbedTLS backend
 * (verify_mbedtls.c) is the only implementation and the only file that includes mbedTLS.
 *
 * Signatures are what `openssl dgst -sha256 -sign KEY -out FILE.sig FILE` writes, over the
 * SHA-256 of the whole file:
 *   - ECDSA on P-256: the DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs);
 *   - RSA of 2048 to 8192 bits: the raw signature, as long as the modulus, with
 *     PKCS#1 v1.5 padding or PSS (MGF1-SHA-256, any salt length; openssl's
 *     `-sigopt rsa_padding_mode:pss`).
 * No other key type or size is accepted, neither as a trusted key nor for signing.
 *
 * Ownership: every context is caller-owned with _init/_free (free is safe after init, and
 * twice). Errors are negative enum st7_err with a one-line reason in the diag.
 *
 * Process-wide setup: the backend's library is started once per process, before the
 * first key or signature is used, by st7_backends_global_init() (iface/backends.h).
 */
#ifndef ST7_VERIFY_H
#define ST7_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define ST7_SHA256_LEN 32
#define ST7_SIG_MAX 1024       /* an RSA-8192 signature; anything longer is refused unread */
#define ST7_KEY_FILE_MAX 16384 /* a PEM public or private key file */
#define ST7_KEYRING_MAX 32     /* trusted keys at once: rotation needs a few, not hundreds */
#define ST7_KEY_NAME_MAX 96

/* Streaming SHA-256. `impl` is the backend's state; treat it as opaque. */
struct st7_sha256 {
	void *impl;
};
void st7_sha256_init(struct st7_sha256 *h);
int st7_sha256_start(struct st7_sha256 *h);
int st7_sha256_update(struct st7_sha256 *h, const void *data, size_t len);
int st7_sha256_finish(struct st7_sha256 *h, uint8_t out[ST7_SHA256_LEN]);
void st7_sha256_free(struct st7_sha256 *h);
/* One shot. */
int st7_sha256(const void *data, size_t len, uint8_t out[ST7_SHA256_LEN]);
/* Lower-case hex, 64 characters and a NUL. */
void st7_sha256_hex(const uint8_t digest[ST7_SHA256_LEN], char out[2 * ST7_SHA256_LEN + 1]);

/* A set of trusted public keys. */
struct st7_keyring {
	void *impl;
};
void st7_keyring_init(struct st7_keyring *k);
void st7_keyring_free(struct st7_keyring *k);

/*
 * Add one public key (PEM "PUBLIC KEY" / "RSA PUBLIC KEY", or DER SubjectPublicKeyInfo)
 * under `name` (a file name, for logs). Refused with ST7_ERR_FORMAT when unparsable,
 * ST7_ERR_UNSUPPORTED for another key type or size, ST7_ERR_TOO_LARGE past
 * ST7_KEYRING_MAX keys. A private key is refused too: the gateway never holds one.
 */
int st7_keyring_add(struct st7_keyring *k, const char *name, const uint8_t *key, size_t len,
                    struct st7_diag *d);
size_t st7_keyring_count(const struct st7_keyring *k);

/*
 * Check `sig` over `digest` against every key. ST7_OK when one key accepts it: `signer`
 * (may be NULL) then gets "NAME (sha256:FINGERPRINT16)". ST7_ERR_SIGNATURE otherwise,
 * with a reason that says what the signature looked like.
 */
int st7_keyring_verify(const struct st7_keyring *k, const uint8_t digest[ST7_SHA256_LEN],
                       const uint8_t *sig, size_t sig_len, char *signer, size_t signer_size,
                       struct st7_diag *d);

enum st7_sig_padding { ST7_SIG_PKCS1V15, ST7_SIG_PSS };

/*
 * Sign `digest` with a PEM private key (unencrypted; ECDSA P-256 or RSA 2048..8192).
 * `padding` applies to RSA only. The signature is appended to `out`.
 */
int st7_sign_digest(const uint8_t *key, size_t key_len, enum st7_sig_padding padding,
                    const uint8_t digest[ST7_SHA256_LEN], struct st7_buf *out, struct st7_diag *d);

#endif
