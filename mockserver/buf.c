/* Growable strings, XML and JSON escaping, HTTP and ISO dates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock-private.h"

static bool mock_buf_reserve(struct mock_buf *buf, size_t more)
{
	size_t need, alloc;
	char *data;

	if (buf->failed)
		return false;
	need = buf->len + more + 1;
	if (need < more) {
		buf->failed = true;
		return false;
	}
	if (need <= buf->alloc)
		return true;
	alloc = buf->alloc < 256 ? 256 : buf->alloc;
	while (alloc < need)
		alloc *= 2;
	data = realloc(buf->data, alloc);
	if (data == NULL) {
		buf->failed = true;
		return false;
	}
	buf->data = data;
	buf->alloc = alloc;
	return true;
}

void mock_buf_add(struct mock_buf *buf, const void *data, size_t size)
{
	if (!mock_buf_reserve(buf, size))
		return;
	if (size > 0)
		memcpy(buf->data + buf->len, data, size);
	buf->len += size;
	buf->data[buf->len] = '\0';
}

void mock_buf_str(struct mock_buf *buf, const char *str)
{
	mock_buf_add(buf, str, strlen(str));
}

void mock_buf_printf(struct mock_buf *buf, const char *fmt, ...)
{
	va_list args;
	int len;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0 || !mock_buf_reserve(buf, (size_t)len)) {
		buf->failed = true;
		return;
	}
	va_start(args, fmt);
	vsnprintf(buf->data + buf->len, (size_t)len + 1, fmt, args);
	va_end(args);
	buf->len += (size_t)len;
}

void mock_buf_xml(struct mock_buf *buf, const char *str)
{
	const char *p, *esc;

	for (p = str; *p != '\0'; p++) {
		switch (*p) {
		case '<':
			esc = "&lt;";
			break;
		case '>':
			esc = "&gt;";
			break;
		case '&':
			esc = "&amp;";
			break;
		case '"':
			esc = "&quot;";
			break;
		case '\'':
			esc = "&apos;";
			break;
		case '\r':
			esc = "&#13;";
			break;
		default:
			mock_buf_add(buf, p, 1);
			continue;
		}
		mock_buf_str(buf, esc);
	}
}

void mock_buf_xml_elem(struct mock_buf *buf, const char *name, const char *text)
{
	mock_buf_printf(buf, "<%s>", name);
	mock_buf_xml(buf, text);
	mock_buf_printf(buf, "</%s>", name);
}

void mock_buf_json(struct mock_buf *buf, const char *str)
{
	const unsigned char *p;

	mock_buf_add(buf, "\"", 1);
	for (p = (const unsigned char *)str; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			mock_buf_printf(buf, "\\%c", *p);
		else if (*p < 0x20)
			mock_buf_printf(buf, "\\u%04x", *p);
		else
			mock_buf_add(buf, p, 1);
	}
	mock_buf_add(buf, "\"", 1);
}

char *mock_buf_steal(struct mock_buf *buf, size_t *len_r)
{
	char *data = buf->data;

	if (buf->failed) {
		mock_buf_free(buf);
		return NULL;
	}
	if (data == NULL)
		data = strdup("");
	if (len_r != NULL)
		*len_r = buf->len;
	memset(buf, 0, sizeof(*buf));
	return data;
}

void mock_buf_free(struct mock_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

static const char *const mock_wdays[] = {"Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat"};
static const char *const mock_months[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};

void mock_http_date(int64_t t, char buf[64])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(buf, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 mock_wdays[tm.tm_wday], tm.tm_mday, mock_months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void mock_iso_date(int64_t t, char buf[64])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.000Z",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

static int mock_month_parse(const char *name)
{
	int i;

	for (i = 0; i < 12; i++) {
		if (strncasecmp(name, mock_months[i], 3) == 0)
			return i;
	}
	return -1;
}

/* Parses the zone of an RFC 2822 date: GMT, UT, UTC, Z or +HHMM/-HHMM.
   Returns 0 and the offset east of UTC in seconds, or -EINVAL. */
static int mock_zone_parse(const char *zone, int64_t *offset_r)
{
	int hh, mm, n = 0;

	if (strcmp(zone, "GMT") == 0 || strcmp(zone, "UTC") == 0 ||
	    strcmp(zone, "UT") == 0 || strcmp(zone, "Z") == 0) {
		*offset_r = 0;
		return 0;
	}
	if ((zone[0] != '+' && zone[0] != '-') ||
	    sscanf(zone + 1, "%2d%2d%n", &hh, &mm, &n) != 2 || n != 4 ||
	    zone[5] != '\0' || hh > 23 || mm > 59)
		return -EINVAL;
	*offset_r = (zone[0] == '-' ? -1 : 1) * (int64_t)(hh * 3600 + mm * 60);
	return 0;
}

/* RFC 7231 section 7.1.1.1: IMF-fixdate, obsolete RFC 850 and asctime;
   also the RFC 2822 numeric zones ("+0000") s3cmd's SigV2 dates have. */
int mock_http_date_parse(const char *str, int64_t *t_r)
{
	char wday[16], mon[4], zone[8];
	int64_t offset = 0;
	struct tm tm;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(str, "%15[A-Za-z], %d %3s %d %d:%d:%d %7s%n", wday,
		   &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, zone, &n) == 8 &&
	    n > 0) {
		if (mock_zone_parse(zone, &offset) < 0)
			return -EINVAL;
	} else if (sscanf(str, "%15[A-Za-z], %d-%3s-%d %d:%d:%d GMT%n", wday,
			  &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour,
			  &tm.tm_min, &tm.tm_sec, &n) == 7 &&
		   n > 0) {
		tm.tm_year += tm.tm_year < 70 ? 2000 : 1900;
	} else if (sscanf(str, "%15s %3s %d %d:%d:%d %d%n", wday, mon,
			  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
			  &tm.tm_year, &n) == 7 &&
		   n > 0) {
		/* asctime */
	} else {
		return -EINVAL;
	}
	if (str[n] != '\0')
		return -EINVAL;
	tm.tm_mon = mock_month_parse(mon);
	if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_year < 1900)
		return -EINVAL;
	tm.tm_year -= 1900;
	*t_r = (int64_t)timegm(&tm) - offset;
	return 0;
}
