/*
 * dates.c — calendar dates for retention: parsing, comparing, and the end
 * of a period of whole years.  No time of day and no time zone: a record's
 * retention ends on a day of the Helsinki calendar, and the callers give
 * dates already in it.  Not time_t: a permanent archive meets years past
 * 2038 in ordinary arithmetic (1890 + 120 years is fine, 2025 + 120 too).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "retention.h"

#define DATES_MAX_YEAR	9999

bool
dates_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
dates_month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && dates_is_leap(y) ? 29 : days[m - 1];
}

static bool
dates_digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool
dates_parse(const char *s, struct ret_date *out)
{
	struct ret_date d;

	if (s == NULL || strlen(s) < 10 || s[4] != '-' || s[7] != '-' ||
	    !dates_digits(s, 4, &d.y) || !dates_digits(s + 5, 2, &d.m) ||
	    !dates_digits(s + 8, 2, &d.d))
		return false;
	/* A date, or the date of an xs:dateTime; nothing else after it. */
	if (s[10] != '\0' && s[10] != 'T')
		return false;
	if (d.y < 1 || d.m < 1 || d.m > 12 || d.d < 1 ||
	    d.d > dates_month_days(d.y, d.m))
		return false;
	*out = d;
	return true;
}

void
dates_format(const struct ret_date *d, char out[11])
{
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)d->y % 10000u,
	    (unsigned)d->m % 100u, (unsigned)d->d % 100u);
}

int
dates_cmp(const struct ret_date *a, const struct ret_date *b)
{
	if (a->y != b->y)
		return a->y < b->y ? -1 : 1;
	if (a->m != b->m)
		return a->m < b->m ? -1 : 1;
	if (a->d != b->d)
		return a->d < b->d ? -1 : 1;
	return 0;
}

enum ret_end
dates_end(const struct ret_date *trigger, long years, bool round_to_year_end,
    struct ret_date *end)
{
	struct ret_date e;

	if (years < RET_PERMANENT)
		return RET_END_INVALID;
	if (years == RET_PERMANENT)
		return RET_END_PERMANENT;
	if (trigger == NULL)
		return RET_END_WAITING;
	if (years > DATES_MAX_YEAR - trigger->y)
		return RET_END_PERMANENT;
	e.y = trigger->y + (int)years;
	e.m = trigger->m;
	/* The same day N years on; a 29.2. in a year without one is the
	 * last day of February (28.2.), never 1.3.: the period is not
	 * stretched past its years. */
	e.d = trigger->d;
	if (e.d > dates_month_days(e.y, e.m))
		e.d = dates_month_days(e.y, e.m);
	if (round_to_year_end) {
		e.m = 12;
		e.d = 31;
	}
	*end = e;
	return RET_END_DATE;
}
