/*
 * Unit tests for tunnel tickets (parent/ticket.c): minting, the validity
 * window at its exact edges, binding to token id and path, path
 * normalisation, tampering, malformed text, single use, the replay cache
 * bound and the reserve/consume/release split.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <bsd/string.h>
#include <openssl/evp.h>

#include "log.h"
#include "ticket.h"

#define AUTHID		"ops@pve!xmig"
#define SOCKPATH	"/run/qemu-server/4321.mtunnel"
#define T0		((time_t)0x66B0F3A2)
#define MAC_OFF		36	/* "PVETUNNEL:" + 8 hex + ':' + 16 hex + ':' */
#define TICKET_BUF	(TICKET_TEXT_LEN + 1)
#define B64_ALPHABET	\
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

struct fixture {
	struct ticket_ctx	*ctx;
	char			 ticket[TICKET_BUF];
	char			 reason[TICKET_REASON_MAX];
};

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	if ((f->ctx = malloc(sizeof(*f->ctx))) == NULL) {
		free(f);
		return -1;
	}
	if (ticket_init(f->ctx, TICKET_LIFETIME_DEFAULT) == -1) {
		free(f->ctx);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	ticket_clear(f->ctx);
	free(f->ctx);
	free(f);
	return 0;
}

static void
mint(struct fixture *f, const char *authid, const char *path, time_t now,
    char *out)
{
	assert_int_equal(ticket_mint(f->ctx, authid, path, now, out,
	    TICKET_BUF), 0);
	assert_int_equal(strlen(out), TICKET_TEXT_LEN);
}

static int
verify(struct fixture *f, const char *authid, const char *path,
    const char *ticket, time_t now)
{
	f->reason[0] = '\0';
	return ticket_verify(f->ctx, authid, path, ticket, now, f->reason,
	    sizeof(f->reason));
}

static void
assert_rejected(struct fixture *f, const char *authid, const char *path,
    const char *ticket, time_t now, const char *reason)
{
	assert_int_equal(verify(f, authid, path, ticket, now), -1);
	assert_contains(f->reason, reason);
}

static void
test_mint_verify_ok(void **state)
{
	struct fixture	*f = *state;
	char		 expect[32];

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	snprintf(expect, sizeof(expect), "PVETUNNEL:%08llX:",
	    (unsigned long long)T0);
	assert_memory_equal(f->ticket, expect, strlen(expect));
	assert_int_equal(f->ticket[MAC_OFF - 1], ':');
	assert_int_equal(f->ticket[TICKET_TEXT_LEN - 1], '=');
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
test_window_expiry_edge(void **state)
{
	struct fixture	*f = *state;
	char		 early[TICKET_BUF];

	mint(f, AUTHID, SOCKPATH, T0, early);
	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, early,
	    T0 + TICKET_LIFETIME_DEFAULT - 1), 0);
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket,
	    T0 + TICKET_LIFETIME_DEFAULT, "expired (issued 40 s ago");
}

static void
test_window_custom_lifetime(void **state)
{
	struct fixture	*f = *state;
	char		 early[TICKET_BUF];

	assert_int_equal(ticket_init(f->ctx, 5), 0);
	mint(f, AUTHID, SOCKPATH, T0, early);
	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, early, T0 + 4), 0);
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 + 5,
	    "expired (issued 5 s ago");
}

static void
test_window_not_yet_valid(void **state)
{
	struct fixture	*f = *state;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 - TICKET_SKEW,
	    "not yet valid");
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 - 1000,
	    "not yet valid");
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket,
	    T0 - TICKET_SKEW + 1), 0);
}

static void
test_init_bad_lifetime(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(ticket_init(f->ctx, 0), -1);
	assert_int_equal(ticket_init(f->ctx, -40), -1);
	assert_int_equal(ticket_init(f->ctx, 40), 0);
}

static void
test_other_token_id(void **state)
{
	struct fixture	*f = *state;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_rejected(f, "ops@pve!other", SOCKPATH, f->ticket, T0,
	    "bad MAC");
	assert_rejected(f, "ops@pve", SOCKPATH, f->ticket, T0, "bad MAC");
	assert_rejected(f, "", SOCKPATH, f->ticket, T0, "bad MAC");
	/* A rejection does not burn the ticket for its real owner. */
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
test_other_path(void **state)
{
	struct fixture	*f = *state;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_rejected(f, AUTHID, "/run/qemu-server/4321.migrate",
	    f->ticket, T0, "bad MAC");
	assert_rejected(f, AUTHID, "/run/qemu-server/432.mtunnel",
	    f->ticket, T0, "bad MAC");
	assert_rejected(f, AUTHID, "/run/qemu-server", f->ticket, T0,
	    "bad MAC");
	/* The same path once normalised is the same path. */
	assert_int_equal(verify(f, AUTHID, "//run/qemu-server//4321.mtunnel/",
	    f->ticket, T0), 0);
}

static void
test_other_key(void **state)
{
	struct fixture		*f = *state;
	struct ticket_ctx	*other;

	assert_non_null(other = malloc(sizeof(*other)));
	assert_int_equal(ticket_init(other, TICKET_LIFETIME_DEFAULT), 0);
	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(ticket_verify(other, AUTHID, SOCKPATH, f->ticket,
	    T0, f->reason, sizeof(f->reason)), -1);
	assert_contains(f->reason, "bad MAC");
	ticket_clear(other);
	free(other);
}

static void
test_dotdot_rejected(void **state)
{
	static const char	*bad[] = {
		"../x", "/run/qemu-server/../x", "/run/..", "..", "../",
		"/run/qemu-server/../qemu-server/4321.mtunnel", "a/../../b",
		"//..//",
	};
	struct fixture		*f = *state;
	char			 out[TICKET_PATH_MAX];
	size_t			 i;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ticket_path_normalize(bad[i], out,
		    sizeof(out)), -1);
		assert_int_equal(ticket_mint(f->ctx, AUTHID, bad[i], T0,
		    out, sizeof(out)), -1);
		assert_rejected(f, AUTHID, bad[i], f->ticket, T0,
		    "invalid ticket path: '..' component");
		/* The path is checked before the ticket itself. */
		assert_rejected(f, AUTHID, bad[i], "garbage", T0,
		    "invalid ticket path");
	}
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
test_dots_in_names_allowed(void **state)
{
	char	 out[TICKET_PATH_MAX];

	assert_int_equal(ticket_path_normalize("/a/.../b..c/.x.", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/socket/a/.../b..c/.x.");
}

static void
test_bad_characters(void **state)
{
	static const char	*bad[] = {
		"/run/qemu-server/4321 .mtunnel", "/run/%2e%2e/x", "/run/a:b",
		"/run/a\nb", "/run/caf\xc3\xa9", "/run/~root", "/run/a\\b",
		"/run/a?b", "/run/a*b", "/run/a\tb", "/run/a+b", "/run/a=b",
	};
	struct fixture		*f = *state;
	char			 out[TICKET_PATH_MAX];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ticket_path_normalize(bad[i], out,
		    sizeof(out)), -1);
		assert_int_equal(ticket_mint(f->ctx, AUTHID, bad[i], T0,
		    out, sizeof(out)), -1);
		assert_rejected(f, AUTHID, bad[i], "garbage", T0,
		    "is not allowed");
	}
}

static void
test_normalize_table(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "/run/qemu-server/100.mtunnel",
		    "/socket/run/qemu-server/100.mtunnel" },
		{ "run/qemu-server/100_nbd.migrate",
		    "/socket/run/qemu-server/100_nbd.migrate" },
		{ "//run///qemu-server//", "/socket/run/qemu-server" },
		{ "/", "/socket" },
		{ "///", "/socket" },
		{ "/A-Z_a.z/0-9", "/socket/A-Z_a.z/0-9" },
	};
	char	 out[TICKET_PATH_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ticket_path_normalize(cases[i].in, out,
		    sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(ticket_path_normalize("", out, sizeof(out)), -1);
}

static void
test_normalize_length(void **state)
{
	char	 in[300], out[TICKET_PATH_MAX];

	/* "/socket/" and a 255-byte component fill TICKET_PATH_MAX. */
	memset(in, 'a', sizeof(in));
	in[255] = '\0';
	assert_int_equal(ticket_path_normalize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), TICKET_PATH_MAX - 1);
	in[255] = 'a';
	in[256] = '\0';
	assert_int_equal(ticket_path_normalize(in, out, sizeof(out)), -1);
	assert_int_equal(ticket_path_normalize("/run/x", out, 13), -1);
	assert_int_equal(ticket_path_normalize("/run/x", out, 14), 0);
	assert_string_equal(out, "/socket/run/x");
}

/* Replace the MAC field of ticket with raw, base64-encoded. */
static void
set_mac(char *ticket, const unsigned char *raw)
{
	EVP_EncodeBlock((unsigned char *)ticket + MAC_OFF, raw, 32);
}

static void
test_mac_bit_flips(void **state)
{
	static const int	 bytes[] = { 0, 1, 7, 15, 16, 24, 30, 31 };
	static const int	 bits[] = { 0, 3, 7 };
	struct fixture		*f = *state;
	unsigned char		 raw[33], flipped[32];
	char			 bad[TICKET_BUF];
	size_t			 i, j;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(EVP_DecodeBlock(raw,
	    (unsigned char *)f->ticket + MAC_OFF, 44), 33);
	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		for (j = 0; j < sizeof(bits) / sizeof(bits[0]); j++) {
			memcpy(flipped, raw, sizeof(flipped));
			flipped[bytes[i]] ^= 1 << bits[j];
			strlcpy(bad, f->ticket, sizeof(bad));
			set_mac(bad, flipped);
			assert_string_not_equal(bad, f->ticket);
			assert_rejected(f, AUTHID, SOCKPATH, bad, T0,
			    "bad MAC");
		}
	}
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
test_time_and_nonce_covered(void **state)
{
	struct fixture	*f = *state;
	char		 bad[TICKET_BUF];

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	/* Issue time one second later: still inside the window. */
	strlcpy(bad, f->ticket, sizeof(bad));
	assert_int_equal(bad[17], '2');
	bad[17] = '3';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "bad MAC");
	/* One nonce digit changed. */
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[20] = bad[20] == '0' ? '1' : '0';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "bad MAC");
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
lower_case(char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'F')
			s[i] = s[i] - 'A' + 'a';
	}
}

static void
test_malformed(void **state)
{
	struct fixture	*f = *state;
	char		 bad[TICKET_BUF + 8], mac[48];
	char		*c;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	strlcpy(mac, f->ticket + MAC_OFF, sizeof(mac));

	assert_rejected(f, AUTHID, SOCKPATH, "", T0, "malformed");
	assert_rejected(f, AUTHID, SOCKPATH, "PVETUNNEL", T0, "malformed");
	assert_rejected(f, AUTHID, SOCKPATH, "PVETUNNEL:", T0, "malformed");

	/* Missing MAC, missing nonce, Proxmox VE's form without a nonce. */
	snprintf(bad, sizeof(bad), "%.*s", MAC_OFF, f->ticket);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	snprintf(bad, sizeof(bad), "PVETUNNEL:66B0F3A2:%s", mac);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	snprintf(bad, sizeof(bad), "PVETUNNEL:66B0F3A2::%s", mac);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");

	/* Right length, wrong prefix or separators. */
	strlcpy(bad, f->ticket, sizeof(bad));
	memcpy(bad, "PVETICKET", 9);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[18] = '-';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[MAC_OFF - 1] = '-';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");

	/* Bad hex: lower case, a non-hex digit, a sign. */
	strlcpy(bad, f->ticket, sizeof(bad));
	lower_case(bad + 10, 8);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not upper-case hex");
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[25] = 'G';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not upper-case hex");
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[10] = '+';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not upper-case hex");

	/* Bad base64: a foreign character, no padding, non-canonical. */
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[MAC_OFF + 5] = '*';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not valid base64");
	strlcpy(bad, f->ticket, sizeof(bad));
	bad[TICKET_TEXT_LEN - 1] = 'A';
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not valid base64");
	strlcpy(bad, f->ticket, sizeof(bad));
	c = &bad[TICKET_TEXT_LEN - 2];	/* its low two bits are padding */
	assert_non_null(strchr(B64_ALPHABET, *c));
	*c = B64_ALPHABET[(strchr(B64_ALPHABET, *c) - B64_ALPHABET) ^ 1];
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "not valid base64");

	/* Oversized and truncated. */
	snprintf(bad, sizeof(bad), "%sA", f->ticket);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	snprintf(bad, sizeof(bad), "%s:", f->ticket);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");
	snprintf(bad, sizeof(bad), "%.*s", TICKET_TEXT_LEN - 1, f->ticket);
	assert_rejected(f, AUTHID, SOCKPATH, bad, T0, "malformed");

	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
}

static void
test_oversized_long(void **state)
{
	struct fixture	*f = *state;
	char		*big;

	assert_non_null(big = malloc(100000));
	memset(big, 'A', 99999);
	big[99999] = '\0';
	memcpy(big, "PVETUNNEL:", 10);
	assert_rejected(f, AUTHID, SOCKPATH, big, T0, "malformed");
	free(big);
}

static void
test_replay_rejected(void **state)
{
	struct fixture	*f = *state;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0, "already used");
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 + 10,
	    "already used");
}

static void
test_same_second_unique(void **state)
{
	struct fixture	*f = *state;
	char		 second[TICKET_BUF];

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	mint(f, AUTHID, SOCKPATH, T0, second);
	assert_string_not_equal(f->ticket, second);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, second, T0), 0);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
	assert_rejected(f, AUTHID, SOCKPATH, second, T0, "already used");
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0, "already used");
}

static void
test_cache_full(void **state)
{
	struct fixture	*f = *state;
	char		 first[TICKET_BUF], out[TICKET_BUF];
	int		 i;

	mint(f, AUTHID, SOCKPATH, T0, first);
	for (i = 1; i < TICKET_CACHE_MAX; i++)
		mint(f, AUTHID, SOCKPATH, T0 + 10, f->ticket);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH, T0 + 10, out,
	    sizeof(out)), -1);

	/* Tickets minted before the cache filled still work, once. */
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0 + 10), 0);
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 + 10,
	    "already used");
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH, T0 + 10, out,
	    sizeof(out)), -1);

	/* Once the first ticket expires, its slot takes one new ticket. */
	mint(f, AUTHID, SOCKPATH, T0 + TICKET_LIFETIME_DEFAULT, out);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH,
	    T0 + TICKET_LIFETIME_DEFAULT, out, sizeof(out)), -1);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, out,
	    T0 + TICKET_LIFETIME_DEFAULT), 0);

	/* When all have expired, minting works again. */
	mint(f, AUTHID, SOCKPATH, T0 + 10 + TICKET_LIFETIME_DEFAULT, out);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, out,
	    T0 + 10 + TICKET_LIFETIME_DEFAULT), 0);
}

static void
test_reserve_release(void **state)
{
	struct fixture		*f = *state;
	struct ticket_claim	 claim, second;

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	assert_int_equal(ticket_reserve(f->ctx, AUTHID, SOCKPATH, f->ticket,
	    T0, &claim, f->reason, sizeof(f->reason)), 0);

	/* A concurrent second use while the first connects. */
	assert_int_equal(ticket_reserve(f->ctx, AUTHID, SOCKPATH, f->ticket,
	    T0, &second, f->reason, sizeof(f->reason)), -1);
	assert_contains(f->reason, "in use by another connection");
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0, "in use");

	/* The connect failed: the ticket is usable again. */
	ticket_release(f->ctx, &claim);
	assert_int_equal(ticket_reserve(f->ctx, AUTHID, SOCKPATH, f->ticket,
	    T0 + 1, &claim, f->reason, sizeof(f->reason)), 0);

	/* The connect succeeded: the ticket is burnt for good. */
	ticket_consume(f->ctx, &claim);
	ticket_release(f->ctx, &claim);
	assert_int_equal(ticket_reserve(f->ctx, AUTHID, SOCKPATH, f->ticket,
	    T0 + 1, &second, f->reason, sizeof(f->reason)), -1);
	assert_contains(f->reason, "already used");
}

static void
test_reserve_failure_no_claim(void **state)
{
	struct fixture		*f = *state;
	struct ticket_claim	 claim;
	char			 other[TICKET_BUF];

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	mint(f, AUTHID, SOCKPATH, T0, other);
	assert_int_equal(ticket_reserve(f->ctx, "x@pve!y", SOCKPATH,
	    f->ticket, T0, &claim, f->reason, sizeof(f->reason)), -1);
	/* Releasing or consuming the empty claim changes nothing. */
	ticket_consume(f->ctx, &claim);
	ticket_release(f->ctx, &claim);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, other, T0), 0);
}

static void
test_clock_step_back(void **state)
{
	struct fixture	*f = *state;
	char		 later[TICKET_BUF], unused[TICKET_BUF];

	mint(f, AUTHID, SOCKPATH, T0, f->ticket);
	mint(f, AUTHID, SOCKPATH, T0, unused);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, f->ticket, T0), 0);

	/* The clock jumps ahead, both tickets are forgotten... */
	mint(f, AUTHID, SOCKPATH, T0 + 100, later);
	assert_int_equal(verify(f, AUTHID, SOCKPATH, later, T0 + 100), 0);

	/* ...and after a step back neither is accepted again. */
	assert_rejected(f, AUTHID, SOCKPATH, f->ticket, T0 + 1,
	    "nonce no longer remembered");
	assert_rejected(f, AUTHID, SOCKPATH, unused, T0 + 1,
	    "nonce no longer remembered");
}

static void
test_mint_bad_arguments(void **state)
{
	struct fixture	*f = *state;
	char		 small[TICKET_TEXT_LEN];

	assert_int_equal(ticket_mint(f->ctx, "", SOCKPATH, T0, f->ticket,
	    sizeof(f->ticket)), -1);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, "", T0, f->ticket,
	    sizeof(f->ticket)), -1);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH, T0, small,
	    sizeof(small)), -1);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH, -1,
	    f->ticket, sizeof(f->ticket)), -1);
	assert_int_equal(ticket_mint(f->ctx, AUTHID, SOCKPATH,
	    (time_t)0x100000000LL, f->ticket, sizeof(f->ticket)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_mint_verify_ok),
		T(test_window_expiry_edge),
		T(test_window_custom_lifetime),
		T(test_window_not_yet_valid),
		T(test_init_bad_lifetime),
		T(test_other_token_id),
		T(test_other_path),
		T(test_other_key),
		T(test_dotdot_rejected),
		T(test_dots_in_names_allowed),
		T(test_bad_characters),
		T(test_normalize_table),
		T(test_normalize_length),
		T(test_mac_bit_flips),
		T(test_time_and_nonce_covered),
		T(test_malformed),
		T(test_oversized_long),
		T(test_replay_rejected),
		T(test_same_second_unique),
		T(test_cache_full),
		T(test_reserve_release),
		T(test_reserve_failure_no_claim),
		T(test_clock_step_back),
		T(test_mint_bad_arguments),
#undef T
	};

	log_init(1, 0, "test_ticket");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
