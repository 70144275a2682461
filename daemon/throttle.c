/*
 * throttle.c — the table of failed logins by client address.  One slot an
 * address; a slot is found by hashing the address and looking at a few
 * neighbours, as the audit trail's denial counter does.  An address's
 * count lives until it has been quiet for window_s; a success does not
 * clear it (a caller with one good token could otherwise go on guessing
 * others).  Past limit each 401 is held back a little longer, and from
 * block on the address gets 429 before its token is even looked at, so
 * guesses are bounded to block per quiet window, however many are sent
 * in parallel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "throttle.h"

#define THROTTLE_PROBES	8

struct throttle_slot {
	char	peer[64];
	time_t	last_fail;
	int	count;
};

struct throttle {
	struct throttle_rule	 rule;
	struct throttle_slot	*slots;
	size_t			 nslots;
};

struct throttle *
throttle_new(const struct throttle_rule *rule, size_t slots)
{
	struct throttle *t;

	if (slots < THROTTLE_PROBES || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->slots = calloc(slots, sizeof(*t->slots))) == NULL) {
		free(t);
		return NULL;
	}
	t->rule = *rule;
	t->nslots = slots;
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

static int
throttle_is_live(const struct throttle *t, const struct throttle_slot *s,
    time_t now)
{
	return s->peer[0] != '\0' && now - s->last_fail < t->rule.window_s;
}

/* peer's slot, or NULL when it has none and may_take is false; with
 * may_take, a free slot or the stalest of its neighbours, emptied. */
static struct throttle_slot *
throttle_slot(struct throttle *t, const char *peer, time_t now, int may_take)
{
	struct throttle_slot *s, *free_slot = NULL, *stalest = NULL;
	unsigned int h = 5381;
	const char *p;
	size_t i;

	for (p = peer; *p; p++)
		h = h * 33 + (unsigned char)*p;
	for (i = 0; i < THROTTLE_PROBES; i++) {
		s = &t->slots[(h + i) % t->nslots];
		if (s->peer[0] && strcmp(s->peer, peer) == 0) {
			if (throttle_is_live(t, s, now))
				return s;
			s->count = 0;	/* quiet long enough: forgiven */
			return may_take ? s : NULL;
		}
		if (!throttle_is_live(t, s, now)) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (stalest == NULL || s->last_fail < stalest->last_fail)
			stalest = s;
	}
	if (!may_take)
		return NULL;
	s = free_slot ? free_slot : stalest;
	memset(s, 0, sizeof(*s));
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	return s;
}

int
throttle_blocked(struct throttle *t, const char *peer, time_t now)
{
	struct throttle_slot *s = throttle_slot(t, peer, now, 0);

	if (s == NULL || s->count < t->rule.block)
		return 0;
	return (int)(s->last_fail + t->rule.window_s - now);
}

int
throttle_failed(struct throttle *t, const char *peer, time_t now)
{
	struct throttle_slot *s = throttle_slot(t, peer, now, 1);
	int over;
	long long ms;

	s->last_fail = now;
	/* One line as each stage begins (not again while it lasts). */
	if (s->count < t->rule.block) {
		s->count++;
		if (s->count == t->rule.limit + 1)
			log_warn("auth: %s: %d failed logins, each %ds or "
			    "less apart; slowing its 401s down", peer,
			    s->count, t->rule.window_s);
		if (s->count == t->rule.block)
			log_warn("auth: %s: %d failed logins; 429 until it "
			    "is quiet for %ds", peer, s->count,
			    t->rule.window_s);
	}
	if ((over = s->count - t->rule.limit) <= 0)
		return 0;
	ms = over > 31 ? t->rule.max_delay_ms :
	    (long long)t->rule.delay_ms << (over - 1);
	return (int)(ms < t->rule.max_delay_ms ? ms : t->rule.max_delay_ms);
}
