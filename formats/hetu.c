/*
 * hetu.c — the Finnish personal identity code (henkilötunnus): DDMMYY, a
 * century sign, a three-digit individual number and a check character.
 * It says whether a code is well formed and gives it upper-case; it never
 * logs, stores or hashes one (that is the caller's, with a keyed hash).
 */
#include <stdbool.h>
#include <string.h>

#include "package.h"

/* The check character is this alphabet indexed by DDMMYYNNN mod 31 (G, I,
 * O, Q and Z are left out so that they cannot be misread). */
static const char hetu_check[] = "0123456789ABCDEFHJKLMNPRSTUVWXY";

/*
 * The century a sign stands for, or -1.  The signs added in 2023 (Y X W V
 * U for the 1900s, B C D E F for the 2000s) only give more individual
 * numbers per day; a code is checked the same way whatever its sign.
 */
static int
hetu_century(char sign)
{
	switch (sign) {
	case '+':
		return 1800;
	case '-':
	case 'Y':
	case 'X':
	case 'W':
	case 'V':
	case 'U':
		return 1900;
	case 'A':
	case 'B':
	case 'C':
	case 'D':
	case 'E':
	case 'F':
		return 2000;
	default:
		return -1;
	}
}

static int
hetu_days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static char
hetu_upper(char c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/*
 * True when s is a valid code: exactly 11 characters (the caller trims),
 * a real calendar date in the sign's century, an individual number of 002
 * to 999 (900–999 are temporary numbers, still valid) and the right check
 * character.  Lower-case letters are accepted; norm (may be NULL) gets the
 * code upper-case, or "" when it is not valid.
 */
bool
hetu_valid(const char *s, char norm[12])
{
	char	 up[12];
	long	 number;
	int	 i, day, month, year, century, individual;

	if (norm != NULL)
		norm[0] = '\0';
	if (s == NULL || strlen(s) != 11)
		return false;
	for (i = 0; i < 11; i++)
		up[i] = hetu_upper(s[i]);
	up[11] = '\0';

	for (i = 0; i < 6; i++)
		if (up[i] < '0' || up[i] > '9')
			return false;
	for (i = 7; i < 10; i++)
		if (up[i] < '0' || up[i] > '9')
			return false;
	if ((century = hetu_century(up[6])) == -1)
		return false;

	day = (up[0] - '0') * 10 + (up[1] - '0');
	month = (up[2] - '0') * 10 + (up[3] - '0');
	year = century + (up[4] - '0') * 10 + (up[5] - '0');
	individual = (up[7] - '0') * 100 + (up[8] - '0') * 10 + (up[9] - '0');
	if (month < 1 || month > 12 || day < 1 ||
	    day > hetu_days_in_month(year, month))
		return false;
	if (individual < 2)
		return false;

	number = 0;
	for (i = 0; i < 10; i++)
		if (i != 6)
			number = number * 10 + (up[i] - '0');
	if (up[10] != hetu_check[number % 31])
		return false;

	if (norm != NULL)
		memcpy(norm, up, sizeof(up));
	return true;
}
