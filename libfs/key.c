/*
 * Key validation: keys are checked once, here, so that no driver ever sees a
 * key that could escape its root or confuse a backend.
 */
#include <errno.h>
#include <string.h>

#include "fs-private.h"

/* Length of the UTF-8 sequence starting at s (at most left bytes), or 0 if it
   is invalid: a stray continuation byte, a truncated sequence, an overlong
   form, a surrogate or a code point over U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
	unsigned int cp, min;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > left)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool fs_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t pos = 0, n;

	while (pos < len) {
		n = utf8_seq_len(s + pos, len - pos);
		if (n == 0)
			return false;
		pos += n;
	}
	return true;
}

static int key_invalid(const char **reason_r, const char *reason)
{
	if (reason_r != NULL)
		*reason_r = reason;
	return -EINVAL;
}

/* Checks one '/'-separated segment of length len. Returns NULL or why not. */
static const char *key_segment_check(const char *seg, size_t len)
{
	size_t prefix_len = strlen(FS_RESERVED_PREFIX);

	if (len == 0)
		return "key has an empty segment";
	if ((len == 1 && seg[0] == '.') ||
	    (len == 2 && seg[0] == '.' && seg[1] == '.'))
		return "key has a '.' or '..' segment";
	if (len > FS_KEY_SEGMENT_MAX)
		return "key segment is too long";
	if (len >= prefix_len &&
	    memcmp(seg, FS_RESERVED_PREFIX, prefix_len) == 0)
		return "key segment uses the reserved "
		       "prefix " FS_RESERVED_PREFIX;
	return NULL;
}

static const char *key_bytes_check(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c < 0x20 || c == 0x7f)
			return "key contains a control byte";
	}
	if (!fs_utf8_valid(key, len))
		return "key is not valid UTF-8";
	return NULL;
}

int fs_key_validate(const char *key, const char **reason_r)
{
	const char *seg, *slash, *reason;
	size_t len;

	if (key == NULL || key[0] == '\0')
		return key_invalid(reason_r, "key is empty");
	len = strlen(key);
	if (len > FS_KEY_MAX)
		return key_invalid(reason_r, "key is too long");
	if (key[0] == '/')
		return key_invalid(reason_r, "key starts with '/'");
	if (key[len - 1] == '/')
		return key_invalid(reason_r, "key ends with '/'");
	reason = key_bytes_check(key, len);
	if (reason != NULL)
		return key_invalid(reason_r, reason);
	for (seg = key;; seg = slash + 1) {
		slash = strchr(seg, '/');
		reason = key_segment_check(seg, slash != NULL
							? (size_t)(slash - seg)
							: strlen(seg));
		if (reason != NULL)
			return key_invalid(reason_r, reason);
		if (slash == NULL)
			break;
	}
	if (reason_r != NULL)
		*reason_r = NULL;
	return 0;
}
