/*
 * fsctl: deterministic mail-like data for bench and demo.
 *
 * A message is a function of (seed, uid) only: its size, its flags and every
 * byte of it can be produced again, chunk by chunk, to verify what a storage
 * returns without keeping a copy in memory.
 */
#include <string.h>
#include <time.h>

#include "fsctl.h"

/* 2026-11-18: dates in generated headers start here. */
#define FSCTL_MAIL_EPOCH 1795000000

static const char *const fsctl_words[] = {
	"the",	     "mail",	 "server",  "index",	"message",  "meeting",
	"tomorrow",  "attached", "report",  "please",	"review",   "thanks",
	"regards",   "project",	 "budget",  "update",	"schedule", "question",
	"storage",   "backup",	 "numbers", "draft",	"final",    "version",
	"team",	     "office",	 "call",    "agenda",	"notes",    "and",
	"of",	     "to",	 "in",	    "for",	"is",	    "on",
	"with",	     "as",	 "we",	    "will",	"this",	    "that",
	"quarterly", "customer", "invoice", "shipping", "release",  "weekend",
};

static const char *const fsctl_names[] = {
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
};

static const char *const fsctl_flags[] = {
	"\\Seen",	  "\\Seen \\Answered", "\\Seen \\Flagged",
	"\\Recent",	  "\\Seen $Forwarded", "\\Seen \\Answered $Label1",
	"\\Draft \\Seen",
};

#define FSCTL_N(array) (sizeof(array) / sizeof((array)[0]))

uint64_t fsctl_rng_next(uint64_t *state)
{
	/* splitmix64: tiny, fast and well mixed. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fsctl_rng_seed(uint64_t seed, unsigned int uid, uint64_t salt)
{
	uint64_t state = seed ^ ((uint64_t)uid << 32) ^ salt;

	return fsctl_rng_next(&state);
}

uint64_t fsctl_mail_size(const struct fsctl_size_class *mix, uint64_t seed,
			 unsigned int uid)
{
	uint64_t rng = fsctl_rng_seed(seed, uid, 0x51a3);
	unsigned int pick = (unsigned int)(fsctl_rng_next(&rng) % 100);
	unsigned int sum = 0;

	for (; mix->percent != 0; mix++) {
		sum += mix->percent;
		if (pick < sum || mix[1].percent == 0)
			break;
	}
	return mix->min + fsctl_rng_next(&rng) % (mix->max - mix->min + 1);
}

const char *fsctl_mail_flags(uint64_t seed, unsigned int uid)
{
	uint64_t rng = fsctl_rng_seed(seed, uid, 0xf1a9);

	return fsctl_flags[fsctl_rng_next(&rng) % FSCTL_N(fsctl_flags)];
}

void fsctl_mail_init(struct fsctl_mail *mail, uint64_t seed, unsigned int uid,
		     uint64_t size)
{
	memset(mail, 0, sizeof(*mail));
	mail->rng = fsctl_rng_seed(seed, uid, 0xba5e);
	mail->uid = uid;
	mail->size = size;
}

static const char *fsctl_mail_pick(struct fsctl_mail *mail,
				   const char *const *list, size_t count)
{
	return list[fsctl_rng_next(&mail->rng) % count];
}

/* Appends words to line, separated by spaces, up to len_max bytes: exactly
   len_max if exact is set (the last word is cut), else as many whole words as
   fit. Returns the new length. */
static size_t fsctl_mail_words(struct fsctl_mail *mail, char *line, size_t len,
			       size_t len_max, bool exact)
{
	size_t n, sep;
	const char *word;

	while (len < len_max) {
		sep = len > 0 && line[len - 1] != ' ' ? 1 : 0;
		word = fsctl_mail_pick(mail, fsctl_words, FSCTL_N(fsctl_words));
		n = strlen(word);
		if (sep + n > len_max - len) {
			if (!exact)
				break;
			n = len_max - len - sep;
		}
		if (sep != 0)
			line[len++] = ' ';
		memcpy(line + len, word, n);
		len += n;
	}
	return len;
}

static void fsctl_mail_date(const struct fsctl_mail *mail, char *buf,
			    size_t size)
{
	time_t t = FSCTL_MAIL_EPOCH + (time_t)mail->uid * 3593;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		snprintf(buf, size, "Thu, 19 Nov 2026 00:00:00 +0000");
}

/* Writes header line n (without CRLF); returns its length, 0 after the
   last header. */
static size_t fsctl_mail_header(struct fsctl_mail *mail, unsigned int n,
				char *line, size_t size)
{
	const char *from = fsctl_names[mail->uid % FSCTL_N(fsctl_names)];
	unsigned long long id = fsctl_rng_next(&mail->rng);
	char date[64];
	int len;

	fsctl_mail_date(mail, date, sizeof(date));
	switch (n) {
	case 0:
		len = snprintf(line, size, "Return-Path: <%s@example.net>",
			       from);
		break;
	case 1:
		len = snprintf(line, size,
			       "Received: from mx%u.example.net by "
			       "mail.example.org with ESMTPS id %016llx",
			       mail->uid % 7, id);
		break;
	case 2:
		len = snprintf(line, size, "Date: %s", date);
		break;
	case 3:
		len = snprintf(line, size, "From: %s <%s@example.net>", from,
			       from);
		break;
	case 4:
		len = snprintf(line, size, "To: user <user@example.org>");
		break;
	case 5:
		len = snprintf(line, size, "Subject: ");
		return fsctl_mail_words(mail, line, (size_t)len,
					(size_t)len + 20 + id % 30, false);
	case 6:
		len = snprintf(line, size,
			       "Message-ID: <%016llx.%u@example.net>", id,
			       mail->uid);
		break;
	case 7:
		len = snprintf(line, size, "MIME-Version: 1.0");
		break;
	case 8:
		len = snprintf(line, size,
			       "Content-Type: text/plain; charset=us-ascii");
		break;
	case 9:
		len = 0; /* the empty line ending the header */
		break;
	default:
		return 0;
	}
	return (size_t)len;
}

/* Produces the next line, never going past the message size: the last line
   is cut (or made) to end exactly there, with CRLF where it fits. */
static void fsctl_mail_next_line(struct fsctl_mail *mail)
{
	uint64_t left = mail->size - mail->pos;
	size_t len, max = sizeof(mail->line) - 2;

	if (mail->line_no <= 9) {
		len = fsctl_mail_header(mail, mail->line_no, mail->line, max);
	} else {
		/* A short tail becomes one last line of exactly its size. */
		len = left <= 100 ? (size_t)left
				  : 42 + fsctl_rng_next(&mail->rng) % 35;
		len = fsctl_mail_words(mail, mail->line, 0,
				       len >= 2 ? len - 2 : 0, left <= 100);
	}
	mail->line_no++;
	mail->line[len++] = '\r';
	mail->line[len++] = '\n';
	if (len > left) {
		len = (size_t)left;
		if (len >= 2)
			memcpy(mail->line + len - 2, "\r\n", 2);
		else
			mail->line[0] = '\n';
	}
	mail->line_len = len;
	mail->line_off = 0;
}

size_t fsctl_mail_fill(struct fsctl_mail *mail, char *buf, size_t size)
{
	size_t done = 0, n;

	while (done < size && mail->pos < mail->size) {
		if (mail->line_off == mail->line_len)
			fsctl_mail_next_line(mail);
		n = mail->line_len - mail->line_off;
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, mail->line + mail->line_off, n);
		mail->line_off += n;
		mail->pos += n;
		done += n;
	}
	return done;
}

void fsctl_index_fill(char *buf, size_t size, uint64_t seed, unsigned int round)
{
	uint64_t rng = fsctl_rng_seed(seed, round, 0x1dec);
	uint64_t value;
	size_t off, n;
	int len;

	/* A text header naming the version, then binary records. */
	len = snprintf(buf, size, "DOVECOT-INDEX 7.3 rewrite %u\n", round);
	for (off = len > 0 ? (size_t)len : 0; off < size; off += n) {
		value = fsctl_rng_next(&rng);
		n = size - off < sizeof(value) ? size - off : sizeof(value);
		memcpy(buf + off, &value, n);
	}
}
