/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what we accept around keys and signatures: byte 0 picks whether
 * the rest is a trusted-key file (PEM or DER, through our keyring's checks and policy)
 * or a detached signature checked against an ECDSA P-256 and an RSA-2048 key.
 */
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Throw-away public keys made for this target; nothing signs with them. */
static const char ec_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErg5N2P0w+xjrsVlvTxlmUAOwrCsK\n"
                             "Lt8ml1oeu5sD/J6BTNFN3IOvGqRN3S+P7tcWqUKiSxyrxSTuScAn2mObNw==\n"
                             "-----END PUBLIC KEY-----\n";
static const char rsa_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArTo3Lx2jLxsIASJQNuSM\n"
                              "19mPvM8iHutnQwjXhQ00dF7Uef0ocGbPBCZ0oNib1MgAX2l9D8/Kh50yoB3+Q6ZJ\n"
                              "4DJaUKslORKvccuALk0Qu91e2/+NhXTTQVdaP48f+mi2kPA71bV0abb3wb3Br4sb\n"
                              "KX3wkfVC73vB0Rk+RwlAisPaaSa5mwLrmHyhLYKWvHN/3+5rF9gPxV8AZxwuvP/j\n"
                              "X99iuxzW47TqYtrBFznDz/3zfActXzQyorwU0VWEEgfrvaoKRDVGxTHxGl/9GVZv\n"
                              "ud4rYGb61NGPXFwgXTWdW22vWaHEXsoy9pQgY3L+7CnrRAy9PNUQXuFWVkKCwmOl\n"
                              "0QIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct st7_keyring fixed;
	static int ready;
	struct st7_diag d;
	uint8_t digest[ST7_SHA256_LEN];
	char signer[160];

	if (!ready) {
		/* PSA crypto (mbedTLS 3.x) is set up once per process, as cli/main.c does. */
		if (st7_backends_global_init(&d) != ST7_OK)
			abort();
		st7_keyring_init(&fixed);
		if (st7_keyring_add(&fixed, "ec", (const uint8_t *)ec_pem, strlen(ec_pem), &d) ||
		    st7_keyring_add(&fixed, "rsa", (const uint8_t *)rsa_pem, strlen(rsa_pem), &d))
			abort();
		ready = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct st7_keyring k;
		st7_keyring_init(&k);
		if (st7_keyring_add(&k, "fuzz", data + 1, size - 1, &d) == 0 &&
		    st7_keyring_count(&k) != 1)
			abort();
		st7_keyring_free(&k);
		st7_keyring_free(&k); /* free is safe twice */
		return 0;
	}
	/* A signature over some digest: it must never verify (nobody holds the keys). */
	st7_sha256(data, size > 8 ? 8 : size, digest);
	if (st7_keyring_verify(&fixed, digest, data + 1, size - 1, signer, sizeof(signer), &d) == 0)
		abort();
	return 0;
}
