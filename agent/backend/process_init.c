/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* setresuid, setresgid, initgroups */
#include "backends.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int st7_become_state_owner(const char *dir, char *user, size_t cap, struct st7_diag *d)
{
	struct stat st;
	if (geteuid() != 0 || !dir || stat(dir, &st) != 0 || st.st_uid == 0)
		return 0;
	struct passwd *pw = getpwuid(st.st_uid);
	if (!pw)
		return st7_diag_set(d, ST7_ERR_ACCESS,
		                    "%s: owned by uid %u, which has no user: give it to root or "
		                    "to the agent's user (chown), or choose --state-dir",
		                    dir, (unsigned)st.st_uid);
	snprintf(user, cap, "%s", pw->pw_name);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	/* Groups first (the device group among them), then the gid, the uid last. */
	if (initgroups(pw->pw_name, gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "cannot become %s, the owner of %s: %s",
		                    user, dir, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "root could be regained after becoming %s",
		                    user);
	return 1;
}
