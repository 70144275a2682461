/*
 * throttle.h — slows down guessing of bearer tokens: failed logins are
 * counted per client address in a table of fixed size (the stalest address
 * goes when it is full), so that a flood of addresses cannot grow it.
 * Loop thread only; it keeps no secret, only addresses and counts.
 */
#ifndef SAILO_THROTTLE_H
#define SAILO_THROTTLE_H

#include <stddef.h>
#include <time.h>

struct throttle;

struct throttle_rule {
	int	limit;		/* failures answered without delay */
	int	window_s;	/* counted until an address is quiet this long */
	int	delay_ms;	/* the first delay past limit; it doubles … */
	int	max_delay_ms;	/* … up to this */
	int	block;		/* from this many failures on: 429 */
};

struct throttle	*throttle_new(const struct throttle_rule *rule, size_t slots);
void		 throttle_free(struct throttle *t);
/* Seconds until peer may try again (for Retry-After), or 0 when it may
 * try now. */
int		 throttle_blocked(struct throttle *t, const char *peer,
		    time_t now);
/* Counts a failed login from peer; returns how long to hold back its 401,
 * in ms (0: answer at once). */
int		 throttle_failed(struct throttle *t, const char *peer,
		    time_t now);

#endif
