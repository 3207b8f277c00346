/*
 * Helpers for drivers parsing their spec arguments. Numbers are parsed by
 * hand: strtod() and friends depend on the locale and accept junk (signs,
 * spaces, hex) that has no place in a spec.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs-private.h"

void fs_kv_free(struct fs_kv *kv, int count)
{
	int i;

	if (kv == NULL)
		return;
	for (i = 0; i < count; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

/* Fills kv from item [p, p+len): "name=value" or "name". */
static int kv_parse_item(const char *p, size_t len, struct fs_kv *kv)
{
	const char *eq = memchr(p, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - p) : len;

	if (name_len == 0)
		return -EINVAL;
	kv->name = strndup(p, name_len);
	kv->value =
		eq != NULL ? strndup(eq + 1, len - name_len - 1) : strdup("");
	if (kv->name == NULL || kv->value == NULL)
		return -ENOMEM;
	return 0;
}

int fs_kv_split(const char *args, char sep, struct fs_kv **kv_r)
{
	const char *p, *end;
	struct fs_kv *kv;
	int count = 1, i = 0, ret = 0;

	*kv_r = NULL;
	if (args == NULL || args[0] == '\0')
		return 0;
	for (p = args; *p != '\0'; p++) {
		if (*p == sep)
			count++;
	}
	kv = calloc((size_t)count, sizeof(*kv));
	if (kv == NULL)
		return -ENOMEM;
	for (p = args; i < count; i++, p = end + 1) {
		end = strchr(p, sep);
		if (end == NULL)
			end = p + strlen(p);
		ret = kv_parse_item(p, (size_t)(end - p), &kv[i]);
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		fs_kv_free(kv, count);
		return ret;
	}
	*kv_r = kv;
	return count;
}

/* Parses leading decimal digits of *p into *num_r, advancing *p. Returns 0,
   or -EINVAL if there are none or on overflow. */
static int parse_digits(const char **p, uint64_t *num_r)
{
	const char *s = *p;
	uint64_t num = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int digit = (unsigned int)(*s - '0');

		if (num > (UINT64_MAX - digit) / 10)
			return -EINVAL;
		num = num * 10 + digit;
	}
	*p = s;
	*num_r = num;
	return 0;
}

int fs_parse_uint(const char *str, uint64_t *num_r)
{
	uint64_t num;

	if (str == NULL || parse_digits(&str, &num) < 0 || *str != '\0')
		return -EINVAL;
	*num_r = num;
	return 0;
}

/* The binary shift of a size suffix letter, or -1. */
static int size_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return -1;
	}
}

int fs_parse_size(const char *str, uint64_t *size_r)
{
	uint64_t num;
	int shift = 0;

	if (str == NULL || parse_digits(&str, &num) < 0)
		return -EINVAL;
	if (*str != '\0' && size_shift(*str) >= 0)
		shift = size_shift(*str++);
	/* "K", "KB", "KiB", "B" */
	if (shift > 0 && strcasecmp(str, "ib") == 0)
		str += 2;
	else if (strcasecmp(str, "b") == 0)
		str++;
	if (*str != '\0')
		return -EINVAL;
	if (shift > 0 && num > (UINT64_MAX >> shift))
		return -EINVAL;
	*size_r = num << shift;
	return 0;
}

int fs_parse_fraction(const char *str, double *fraction_r)
{
	uint64_t whole, frac = 0;
	double value, scale = 1;
	const char *start;

	if (str == NULL || parse_digits(&str, &whole) < 0)
		return -EINVAL;
	if (*str == '.') {
		start = ++str;
		if (parse_digits(&str, &frac) < 0 || str - start > 18)
			return -EINVAL;
		for (; start < str; start++)
			scale *= 10;
	}
	value = (double)whole + (double)frac / scale;
	if (*str == '%') {
		value /= 100;
		str++;
	}
	if (*str != '\0' || value > 1.0)
		return -EINVAL;
	*fraction_r = value;
	return 0;
}

int fs_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fs_percent_decode(const char *str, size_t len, char **out_r)
{
	char *out, *o;
	size_t i;
	int hi, lo;

	*out_r = NULL;
	out = malloc(len + 1);
	if (out == NULL)
		return -ENOMEM;
	for (o = out, i = 0; i < len; i++) {
		if (str[i] != '%') {
			*o++ = str[i];
			continue;
		}
		hi = i + 2 < len ? fs_hex_value(str[i + 1]) : -1;
		lo = i + 2 < len ? fs_hex_value(str[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return -EINVAL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	*out_r = out;
	return 0;
}
