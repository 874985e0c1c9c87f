/* SPDX-License-Identifier: MIT */
#include "backends.h"

#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

int st7_backends_global_init(struct st7_diag *d)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
	/* 3.x built with MBEDTLS_USE_PSA_CRYPTO signs and verifies through PSA. */
	psa_status_t st = psa_crypto_init();
	if (st != PSA_SUCCESS)
		return st7_diag_set(d, ST7_ERR_IO, "mbedTLS PSA crypto does not start (%d)",
		                    (int)st);
#else
	(void)d;
#endif
	return ST7_OK;
}

void st7_backends_global_cleanup(void)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
	mbedtls_psa_crypto_free();
#endif
}
