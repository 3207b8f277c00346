/*
 * Error messages on handles.
 *
 * Every handle owns one malloc'ed message. The setters format first and free
 * the old message after, so a message may be built from the previous one. If
 * memory runs out, the handle points at a static message instead, which is
 * never freed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs-private.h"

static char fs_error_oom[] = "out of memory while formatting an error message";

static void error_replace(char **dst, char *msg)
{
	if (*dst != fs_error_oom)
		free(*dst);
	*dst = msg != NULL ? msg : fs_error_oom;
}

static char *error_vformat(const char *fmt, va_list args)
{
	va_list copy;
	char *msg;
	int len;

	va_copy(copy, args);
	len = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (len < 0)
		return NULL;
	msg = malloc((size_t)len + 1);
	if (msg == NULL)
		return NULL;
	vsnprintf(msg, (size_t)len + 1, fmt, args);
	return msg;
}

static char *error_dup(const char *msg)
{
	return msg != NULL ? strdup(msg) : NULL;
}

int fs_set_error(struct fs *fs, int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	error_replace(&fs->last_error, error_vformat(fmt, args));
	va_end(args);
	fs->error_seq++;
	return err;
}

int fs_file_set_error(struct fs_file *file, int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	error_replace(&file->last_error, error_vformat(fmt, args));
	va_end(args);
	file->error_seq++;
	return err;
}

int fs_iter_set_error(struct fs_iter *iter, int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	error_replace(&iter->last_error, error_vformat(fmt, args));
	va_end(args);
	iter->error_seq++;
	return err;
}

int fs_file_copy_error(struct fs_file *file, const struct fs_file *from,
		       int err)
{
	if (from == NULL || from->last_error == NULL || file == from)
		return err;
	error_replace(&file->last_error, error_dup(from->last_error));
	file->error_seq++;
	return err;
}

int fs_iter_copy_error(struct fs_iter *iter, const struct fs_iter *from,
		       int err)
{
	if (from == NULL || from->last_error == NULL || iter == from)
		return err;
	error_replace(&iter->last_error, error_dup(from->last_error));
	iter->error_seq++;
	return err;
}

void fs_error_free(char **msg)
{
	error_replace(msg, NULL);
	*msg = NULL;
}

const char *fs_last_error(struct fs *fs)
{
	return fs->last_error != NULL ? fs->last_error : "";
}

const char *fs_file_last_error(struct fs_file *file)
{
	return file->last_error != NULL ? file->last_error : "";
}

const char *fs_iter_last_error(struct fs_iter *iter)
{
	return iter->last_error != NULL ? iter->last_error : "";
}

const char *fs_strerror(int err, char *buf, size_t size)
{
	if (err < 0)
		err = -err;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, size);
#else
	if (strerror_r(err, buf, size) != 0)
		snprintf(buf, size, "error %d", err);
	return buf;
#endif
}

void fs_printable(const char *str, char *buf, size_t size)
{
	size_t i, len = strlen(str);
	size_t max = size - 1;
	bool cut = false, utf8 = fs_utf8_valid(str, len);

	if (len > max) {
		cut = max >= 3;
		len = cut ? max - 3 : max;
		/* do not split a UTF-8 sequence */
		while (len > 0 && ((unsigned char)str[len] & 0xc0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		/* messages stay printable UTF-8 */
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			c = '?';
		buf[i] = (char)c;
	}
	if (cut) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}
