/* SPDX-License-Identifier: MIT */
/*
 * The verify interface on mbedTLS: built and tested against 2.28 (Debian 12), with the
 * API differences of 3.x behind MBEDTLS_VERSION_NUMBER checks. 3.x's PSA crypto is
 * started once per process by st7_backends_global_init() (process_init.c).
 */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && MBEDTLS_VERSION_NUMBER < 0x03060000
#include <mbedtls/private_access.h>
#endif

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

/* ---- SHA-256 ---- */

void st7_sha256_init(struct st7_sha256 *h)
{
	h->impl = NULL;
}

void st7_sha256_free(struct st7_sha256 *h)
{
	if (h->impl) {
		mbedtls_md_free(h->impl);
		free(h->impl);
	}
	h->impl = NULL;
}

int st7_sha256_start(struct st7_sha256 *h)
{
	int ret = ST7_ERR_NOMEM;
	st7_sha256_free(h);
	mbedtls_md_context_t *md = malloc(sizeof(*md));
	if (!md)
		return ret;
	mbedtls_md_init(md);
	h->impl = md;
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (!info || mbedtls_md_setup(md, info, 0) != 0 || mbedtls_md_starts(md) != 0)
		goto cleanup;
	ret = ST7_OK;
cleanup:
	if (ret)
		st7_sha256_free(h);
	return ret;
}

int st7_sha256_update(struct st7_sha256 *h, const void *data, size_t len)
{
	if (!h->impl)
		return ST7_ERR_INVALID;
	if (len == 0)
		return ST7_OK;
	return mbedtls_md_update(h->impl, data, len) == 0 ? ST7_OK : ST7_ERR_INVALID;
}

int st7_sha256_finish(struct st7_sha256 *h, uint8_t out[ST7_SHA256_LEN])
{
	if (!h->impl)
		return ST7_ERR_INVALID;
	int ret = mbedtls_md_finish(h->impl, out) == 0 ? ST7_OK : ST7_ERR_INVALID;
	st7_sha256_free(h);
	return ret;
}

int st7_sha256(const void *data, size_t len, uint8_t out[ST7_SHA256_LEN])
{
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (!info)
		return ST7_ERR_INVALID;
	return mbedtls_md(info, len ? data : (const void *)"", len, out) == 0 ? ST7_OK
	                                                                      : ST7_ERR_INVALID;
}

void st7_sha256_hex(const uint8_t digest[ST7_SHA256_LEN], char out[2 * ST7_SHA256_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < ST7_SHA256_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[2 * ST7_SHA256_LEN] = '\0';
}

/* ---- keys ---- */

struct trusted_key {
	mbedtls_pk_context pk;
	char name[ST7_KEY_NAME_MAX];
	char fingerprint[17]; /* first 8 bytes of the SHA-256 of the DER public key, in hex */
};

struct keyring {
	struct trusted_key keys[ST7_KEYRING_MAX];
	size_t n;
};

static mbedtls_ecp_group_id ec_group(const mbedtls_pk_context *pk)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03060000
	return mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk));
#elif MBEDTLS_VERSION_NUMBER >= 0x03000000
	return mbedtls_pk_ec(*pk)->MBEDTLS_PRIVATE(grp).id;
#else
	return mbedtls_pk_ec(*pk)->grp.id;
#endif
}

/* Our policy on key types and sizes, for trusted keys and signing keys alike. */
static int check_key_policy(const mbedtls_pk_context *pk, const char *name, struct st7_diag *d)
{
	mbedtls_pk_type_t type = mbedtls_pk_get_type(pk);
	size_t bits = mbedtls_pk_get_bitlen(pk);
	if (type == MBEDTLS_PK_RSA) {
		if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
			return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
			                    "%s: RSA key of %zu bits; %d to %d bits are accepted",
			                    name, bits, RSA_MIN_BITS, RSA_MAX_BITS);
		return ST7_OK;
	}
	if (type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA) {
		if (ec_group(pk) != MBEDTLS_ECP_DP_SECP256R1)
			return st7_diag_set(
			        d, ST7_ERR_UNSUPPORTED,
			        "%s: EC key on a curve other than P-256 (%zu bits); only "
			        "P-256 is accepted",
			        name, bits);
		return ST7_OK;
	}
	return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
	                    "%s: %s key; only ECDSA P-256 and RSA keys are accepted", name,
	                    mbedtls_pk_get_name(pk));
}

static bool contains(const uint8_t *p, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(p + i, needle, n) == 0)
			return true;
	return false;
}

/* mbedTLS wants PEM with its terminating NUL counted in the length; DER as it is. */
static int with_pem_nul(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	*out = malloc(len + 1);
	if (!*out)
		return ST7_ERR_NOMEM;
	memcpy(*out, in, len);
	(*out)[len] = '\0';
	bool pem = contains(in, len, "-----BEGIN");
	*out_len = pem ? len + 1 : len;
	return ST7_OK;
}

void st7_keyring_init(struct st7_keyring *k)
{
	k->impl = NULL;
}

void st7_keyring_free(struct st7_keyring *k)
{
	struct keyring *r = k->impl;
	if (r) {
		for (size_t i = 0; i < r->n; i++)
			mbedtls_pk_free(&r->keys[i].pk);
		free(r);
	}
	k->impl = NULL;
}

size_t st7_keyring_count(const struct st7_keyring *k)
{
	const struct keyring *r = k->impl;
	return r ? r->n : 0;
}

int st7_keyring_add(struct st7_keyring *k, const char *name, const uint8_t *key, size_t len,
                    struct st7_diag *d)
{
	int ret = ST7_ERR_FORMAT;
	uint8_t *copy = NULL, der[2200];
	size_t copy_len = 0;
	if (!k->impl) {
		k->impl = calloc(1, sizeof(struct keyring));
		if (!k->impl)
			return ST7_ERR_NOMEM;
	}
	struct keyring *r = k->impl;
	if (r->n >= ST7_KEYRING_MAX)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE, "%s: more than %d trusted keys", name,
		                    ST7_KEYRING_MAX);
	if (len == 0 || len > ST7_KEY_FILE_MAX)
		return st7_diag_set(d, ST7_ERR_FORMAT, "%s: %zu bytes; a public key has 1 to %d",
		                    name, len, ST7_KEY_FILE_MAX);
	if (contains(key, len, "PRIVATE KEY"))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    "%s: a private key; trust needs only the public key "
		                    "(openssl pkey -pubout)",
		                    name);
	struct trusted_key *t = &r->keys[r->n];
	mbedtls_pk_init(&t->pk);
	if (with_pem_nul(key, len, &copy, &copy_len) != ST7_OK) {
		ret = ST7_ERR_NOMEM;
		goto cleanup;
	}
	int mret = mbedtls_pk_parse_public_key(&t->pk, copy, copy_len);
	if (mret != 0) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "%s: not a PEM or DER public key (mbedTLS -0x%04X)", name,
		                   (unsigned)-mret);
		goto cleanup;
	}
	ret = check_key_policy(&t->pk, name, d);
	if (ret)
		goto cleanup;
	int der_len = mbedtls_pk_write_pubkey_der(&t->pk, der, sizeof(der));
	uint8_t fp[ST7_SHA256_LEN];
	char hex[2 * ST7_SHA256_LEN + 1];
	if (der_len <= 0 || st7_sha256(der + sizeof(der) - (size_t)der_len, (size_t)der_len, fp)) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s: cannot re-encode the key", name);
		goto cleanup;
	}
	st7_sha256_hex(fp, hex);
	memcpy(t->fingerprint, hex, 16);
	t->fingerprint[16] = '\0';
	snprintf(t->name, sizeof(t->name), "%s", name);
	r->n++;
	ret = ST7_OK;
cleanup:
	if (ret)
		mbedtls_pk_free(&t->pk);
	free(copy);
	return ret;
}

static const char *sig_shape(const uint8_t *sig, size_t len)
{
	if (len >= 8 && len <= 72 && sig[0] == 0x30)
		return "DER, as an ECDSA signature";
	if (len == 256 || len == 384 || len == 512)
		return "as long as an RSA signature";
	return "neither an ECDSA (DER) nor an RSA signature";
}

int st7_keyring_verify(const struct st7_keyring *k, const uint8_t digest[ST7_SHA256_LEN],
                       const uint8_t *sig, size_t sig_len, char *signer, size_t signer_size,
                       struct st7_diag *d)
{
	const struct keyring *r = k->impl;
	size_t n = r ? r->n : 0;
	if (n == 0)
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "no trusted keys to check against");
	if (sig_len == 0 || sig_len > ST7_SIG_MAX)
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "signature of %zu bytes; a valid one has 8 to %d", sig_len,
		                    ST7_SIG_MAX);
	for (size_t i = 0; i < n; i++) {
		/* mbedTLS takes non-const contexts, though verifying does not change them. */
		mbedtls_pk_context *pk = (mbedtls_pk_context *)&r->keys[i].pk;
		bool good = false;
		if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA) {
			if (sig_len != mbedtls_pk_get_len(pk))
				continue; /* cannot be this key's */
			mbedtls_pk_rsassa_pss_options pss = { MBEDTLS_MD_SHA256,
				                              MBEDTLS_RSA_SALT_LEN_ANY };
			good = mbedtls_pk_verify_ext(MBEDTLS_PK_RSA, NULL, pk, MBEDTLS_MD_SHA256,
			                             digest, ST7_SHA256_LEN, sig, sig_len) == 0 ||
			       mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &pss, pk,
			                             MBEDTLS_MD_SHA256, digest, ST7_SHA256_LEN, sig,
			                             sig_len) == 0;
		} else {
			/* Trailing bytes after the DER make this fail too: one encoding only. */
			good = mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, digest, ST7_SHA256_LEN, sig,
			                         sig_len) == 0;
		}
		if (good) {
			if (signer && signer_size)
				snprintf(signer, signer_size, "%s (sha256:%s)", r->keys[i].name,
				         r->keys[i].fingerprint);
			return ST7_OK;
		}
	}
	return st7_diag_set(d, ST7_ERR_SIGNATURE,
	                    "the signature (%zu bytes, %s) is not valid for this content under "
	                    "any of the %zu trusted key%s",
	                    sig_len, sig_shape(sig, sig_len), n, n == 1 ? "" : "s");
}

/* ---- signing (vendors' build hosts) ---- */

int st7_sign_digest(const uint8_t *key, size_t key_len, enum st7_sig_padding padding,
                    const uint8_t digest[ST7_SHA256_LEN], struct st7_buf *out, struct st7_diag *d)
{
	int ret = ST7_ERR_FORMAT;
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	uint8_t *copy = NULL;
	size_t copy_len = 0, sig_len = 0;
	static const unsigned char pers[] = "st7dfu-sign";
	uint8_t *sig = malloc(RSA_MAX_BITS / 8 + 16);

	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (!sig || with_pem_nul(key, key_len, &copy, &copy_len) != ST7_OK) {
		ret = ST7_ERR_NOMEM;
		goto cleanup;
	}
	if (key_len == 0 || key_len > ST7_KEY_FILE_MAX) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "key file of %zu bytes", key_len);
		goto cleanup;
	}
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof(pers)) != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "no entropy for the random generator");
		goto cleanup;
	}
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	int mret =
	        mbedtls_pk_parse_key(&pk, copy, copy_len, NULL, 0, mbedtls_ctr_drbg_random, &drbg);
#else
	int mret = mbedtls_pk_parse_key(&pk, copy, copy_len, NULL, 0);
#endif
	if (mret != 0) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "not an unencrypted PEM or DER private key (mbedTLS -0x%04X)",
		                   (unsigned)-mret);
		goto cleanup;
	}
	ret = check_key_policy(&pk, "the signing key", d);
	if (ret)
		goto cleanup;
	ret = st7_diag_set(d, ST7_ERR_INVALID, "signing failed");
	if (mbedtls_pk_get_type(&pk) == MBEDTLS_PK_RSA && padding == ST7_SIG_PSS) {
		mbedtls_rsa_context *rsa = mbedtls_pk_rsa(pk);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
		if (mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256) != 0)
			goto cleanup;
#else
		mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256);
#endif
		/* Salt as long as the hash: what RFC 8017 recommends and openssl accepts. */
		if (mbedtls_rsa_rsassa_pss_sign_ext(rsa, mbedtls_ctr_drbg_random, &drbg,
		                                    MBEDTLS_MD_SHA256, ST7_SHA256_LEN, digest,
		                                    ST7_SHA256_LEN, sig) != 0)
			goto cleanup;
		sig_len = mbedtls_pk_get_len(&pk);
	} else {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
		if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, digest, ST7_SHA256_LEN, sig,
		                    RSA_MAX_BITS / 8 + 16, &sig_len, mbedtls_ctr_drbg_random,
		                    &drbg) != 0)
			goto cleanup;
#else
		if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, digest, ST7_SHA256_LEN, sig, &sig_len,
		                    mbedtls_ctr_drbg_random, &drbg) != 0)
			goto cleanup;
#endif
	}
	ret = st7_buf_append(out, sig, sig_len);
cleanup:
	if (copy) {
		mbedtls_platform_zeroize(copy, key_len);
		free(copy);
	}
	free(sig);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_pk_free(&pk);
	return ret;
}
