/*
 * Unit tests of the WebDAV driver's parts that need no server: the
 * multistatus parser (namespaces under any prefix, statuses, weak ETags,
 * metadata properties, bodies fed a byte at a time, malformed and hostile
 * documents), hrefs to keys (absolute and relative forms, percent-encoding
 * as servers write it), URL encoding, request bodies, dates, temporary
 * names and limits. The driver against a server is in test_mock_dav*.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "libfs/fs.h"

#ifdef LIBFS_DRIVER_DAV

#include <libxml/parser.h>

#include "../drivers/dav/dav-private.h"

struct collected {
	struct dav_entry e[8];
	size_t count;
};

static int collect(struct dav_entry *entry, void *context)
{
	struct collected *c = context;

	if (c->count == 8)
		return -E2BIG;
	c->e[c->count++] = *entry;
	memset(entry, 0, sizeof(*entry));
	return 0;
}

static void collected_free(struct collected *c)
{
	size_t i;

	for (i = 0; i < c->count; i++)
		fs_dav_entry_clear(&c->e[i]);
	c->count = 0;
}

/* What Apache mod_dav sends, prefixes and all. */
static const char apache_ms[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<D:multistatus xmlns:D=\"DAV:\" xmlns:ns1=\"urn:libfs:metadata\">\n"
	"<D:response xmlns:lp1=\"DAV:\" xmlns:lp2=\"http://apache.org/dav/"
	"props/\">\n"
	"<D:href>/base/dir/</D:href>\n"
	"<D:propstat><D:prop>\n"
	"<lp1:resourcetype><D:collection/></lp1:resourcetype>\n"
	"<lp1:getetag>W/\"1000-6615ae56ba6ef\"</lp1:getetag>\n"
	"</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n"
	"<D:propstat><D:prop><D:getcontentlength/></D:prop>\n"
	"<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>\n"
	"</D:response>\n"
	"<D:response xmlns:lp1=\"DAV:\">\n"
	"<D:href>/base/dir/with%20space+plus%25pct%3f%23%c3%a4</D:href>\n"
	"<D:propstat><D:prop>\n"
	"<lp1:resourcetype/>\n"
	"<lp1:getcontentlength>1234</lp1:getcontentlength>\n"
	"<lp1:getlastmodified>Sat, 28 Nov 2026 19:08:00 GMT"
	"</lp1:getlastmodified>\n"
	"<lp1:getetag>\"4d2-6615ae56aeb6f\"</lp1:getetag>\n"
	"<ns1:subject>a &amp; b &lt;c&gt;</ns1:subject>\n"
	"<ns1:_1st>one</ns1:_1st>\n"
	"<ns1:nested><x xmlns=\"urn:y\">no</x></ns1:nested>\n"
	"<other:prop xmlns:other=\"urn:other\">ignored</other:prop>\n"
	"</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n"
	"</D:response>\n"
	"<D:response><D:href>http://h:1/base/gone</D:href>"
	"<D:status>HTTP/1.1 404 Not Found</D:status></D:response>\n"
	"</D:multistatus>\n";

static void check_apache(struct collected *c)
{
	const struct dav_entry *dir = &c->e[0], *obj = &c->e[1];

	assert_int_equal(c->count, 3);
	assert_string_equal(dir->href, "/base/dir/");
	assert_true(dir->collection);
	assert_false(dir->has_size);
	assert_true(dir->has_etag);
	assert_string_equal(dir->etag, "\"1000-6615ae56ba6ef\"");
	assert_string_equal(dir->etag_raw, "W/\"1000-6615ae56ba6ef\"");
	assert_int_equal(dir->prop_error, 0);

	assert_false(obj->collection);
	assert_true(obj->has_size);
	assert_int_equal(obj->size, 1234);
	assert_true(obj->has_mtime);
	assert_int_equal(obj->mtime_ns, 1795892880LL * 1000000000);
	assert_string_equal(obj->etag, "\"4d2-6615ae56aeb6f\"");
	assert_true(obj->has_md);
	assert_int_equal(obj->md.count, 2);
	assert_int_equal(obj->md_invalid, 1);
	assert_string_equal(obj->md.items[0].name, "subject");
	assert_string_equal(obj->md.items[0].value, "a & b <c>");
	assert_string_equal(obj->md.items[1].name, "1st");
	assert_string_equal(obj->md.items[1].value, "one");

	assert_int_equal(c->e[2].status, 404);
}

static void test_multistatus(void **state)
{
	struct collected c = {0};
	struct dav_ms_parser *p;
	const char *error = NULL;
	size_t i;

	(void)state;
	assert_int_equal(fs_dav_ms_parse(apache_ms, strlen(apache_ms), true,
					 collect, &c, &error),
			 0);
	check_apache(&c);
	collected_free(&c);

	/* the same, a byte at a time */
	assert_int_equal(fs_dav_ms_init(true, collect, &c, &p), 0);
	for (i = 0; i < strlen(apache_ms); i++)
		assert_int_equal(fs_dav_ms_feed(p, apache_ms + i, 1, &error),
				 0);
	assert_int_equal(fs_dav_ms_finish(p, &error), 0);
	fs_dav_ms_deinit(&p);
	check_apache(&c);
	collected_free(&c);

	/* without want_md, values are not kept but their presence is */
	assert_int_equal(fs_dav_ms_parse(apache_ms, strlen(apache_ms), false,
					 collect, &c, &error),
			 0);
	assert_true(c.e[1].has_md);
	assert_int_equal(c.e[1].md.count, 0);
	collected_free(&c);
}

static void test_multistatus_default_ns(void **state)
{
	static const char doc[] =
		"<multistatus xmlns=\"DAV:\"><response>"
		"<href>/b/x</href><propstat><prop><resourcetype>"
		"<collection/></resourcetype>"
		"<m xmlns=\"urn:libfs:metadata\">v</m></prop>"
		"<status>HTTP/1.1 200 OK</status></propstat>"
		"<propstat><prop><getetag/></prop>"
		"<status>HTTP/1.1 424 Failed Dependency</status></propstat>"
		"</response></multistatus>";
	struct collected c = {0};

	(void)state;
	assert_int_equal(
		fs_dav_ms_parse(doc, strlen(doc), true, collect, &c, NULL), 0);
	assert_int_equal(c.count, 1);
	assert_true(c.e[0].collection);
	assert_int_equal(c.e[0].prop_error, 424);
	assert_string_equal(c.e[0].md.items[0].name, "m");
	collected_free(&c);
}

static void test_multistatus_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"<D:multistatus xmlns:D=\"DAV:\"><D:response>",
		"<multistatus/>", /* no namespace: not DAV's */
		"<D:error xmlns:D=\"DAV:\"/>",
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]>"
		"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>&e;"
		"</D:href></D:response></D:multistatus>",
		"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:propstat/>"
		"</D:response></D:multistatus>",
		"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>a<b/>"
		"</D:href></D:response></D:multistatus>",
		"not xml at all",
	};
	struct collected c = {0};
	const char *error;
	char *huge;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(fs_dav_ms_parse(bad[i], strlen(bad[i]), true,
						 collect, &c, &error),
				 -EINVAL);
		assert_non_null(error);
		collected_free(&c);
	}
	/* one text longer than DAV_TEXT_MAX */
	huge = malloc(DAV_TEXT_MAX + 200);
	assert_non_null(huge);
	i = (size_t)sprintf(huge, "<D:multistatus xmlns:D=\"DAV:\">"
				  "<D:response><D:href>");
	memset(huge + i, 'a', DAV_TEXT_MAX + 1);
	strcpy(huge + i + DAV_TEXT_MAX + 1,
	       "</D:href></D:response></D:multistatus>");
	assert_int_equal(
		fs_dav_ms_parse(huge, strlen(huge), true, collect, &c, &error),
		-EINVAL);
	collected_free(&c);
	free(huge);
}

static struct fs *open_fs(const char *spec)
{
	const char *error = NULL;
	struct fs *fs = NULL;

	if (fs_init(spec, NULL, &fs, &error) < 0)
		fail_msg("fs_init(%s): %s", spec, error);
	return fs;
}

static void expect_href(struct dav_fs *fs, const char *href, int ret,
			const char *key)
{
	char *got = NULL;

	assert_int_equal(fs_dav_href_key(fs, href, NULL, &got), ret);
	if (key != NULL)
		assert_string_equal(got, key);
	else
		assert_null(got);
	free(got);
}

static void test_hrefs(void **state)
{
	struct fs *_fs = open_fs("dav+http://h:8080/base%20dir/mail/");
	struct dav_fs *fs = DAV_FS(_fs);

	(void)state;
	assert_string_equal(fs->base_path, "/base%20dir/mail/");
	assert_string_equal(fs->base_decoded, "/base dir/mail/");
	expect_href(fs, "/base%20dir/mail/", 0, NULL);
	expect_href(fs, "/base%20dir/mail", 0, NULL);
	expect_href(fs, "http://h:8080/base%20dir/mail/", 0, NULL);
	expect_href(fs, "/base%20dir/mail/a", 1, "a");
	expect_href(fs, "/base dir/mail/a/b/", 1, "a/b");
	expect_href(fs, "https://other/base%20dir/mail/x%2fy", 1, "x/y");
	expect_href(fs, "/base%20dir/mail/p+q%3f%C3%A4", 1, "p+q?\xc3\xa4");
	expect_href(fs, "/base%20dir/other/a", -EINVAL, NULL);
	expect_href(fs, "/base%20dir/mailx", -EINVAL, NULL);
	expect_href(fs, "/base%20dir/mail/bad%zz", -EINVAL, NULL);
	expect_href(fs, "/base%20dir/mail/nul%00", -EINVAL, NULL);
	expect_href(fs, "relative", -EINVAL, NULL);
	/* relative to the collection listed */
	{
		char *got = NULL;

		assert_int_equal(fs_dav_href_key(fs, "x%20y", "a/", &got), 1);
		assert_string_equal(got, "a/x y");
		free(got);
		assert_int_equal(fs_dav_href_key(fs, "./sub/", "", &got), 1);
		assert_string_equal(got, "sub");
		free(got);
		assert_int_equal(fs_dav_href_key(fs, "../up", "a/", &got),
				 -EINVAL);
	}
	fs_deinit(&_fs);
}

static void test_urls(void **state)
{
	struct fs *_fs = open_fs("dav+https://us%40er@[::1]:8443/dav");
	struct dav_fs *fs = DAV_FS(_fs);
	char *url, *dec = NULL;

	(void)state;
	assert_string_equal(fs->user, "us@er");
	assert_string_equal(fs->origin, "https://[::1]:8443");
	assert_string_equal(fs->base_path, "/dav/");
	url = fs_dav_url(fs, "a b/c%d+e/\xc3\xa4~._-", false);
	assert_string_equal(url, "https://[::1]:8443/dav/a%20b/c%25d%2Be/"
				 "%C3%A4~._-");
	free(url);
	url = fs_dav_url(fs, "x/y", true);
	assert_string_equal(url, "https://[::1]:8443/dav/x/y/");
	free(url);
	url = fs_dav_encode("?#[]@!$&'()*,;=");
	assert_int_equal(fs_percent_decode(url, strlen(url), &dec), 0);
	assert_string_equal(dec, "?#[]@!$&'()*,;=");
	assert_null(strpbrk(url, "?#[]@!$&'()*,;="));
	free(url);
	free(dec);
	fs_deinit(&_fs);
}

static void test_bodies(void **state)
{
	struct fs_metadata_list set = {0}, rm = {0};
	struct collected c = {0};
	char elem[DAV_MD_ELEM_MAX], *body;
	size_t size;
	xmlDocPtr doc;

	(void)state;
	fs_dav_md_to_xml("abc", elem);
	assert_string_equal(elem, "abc");
	fs_dav_md_to_xml("1st", elem);
	assert_string_equal(elem, "_1st");
	fs_dav_md_to_xml("-x", elem);
	assert_string_equal(elem, "_-x");
	fs_dav_md_to_xml("_u", elem);
	assert_string_equal(elem, "__u");
	assert_string_equal(fs_dav_md_from_xml("__u"), "_u");
	assert_string_equal(fs_dav_md_from_xml("_1st"), "1st");

	assert_int_equal(fs_metadata_list_set(&set, "1st", "a<&>\"' z"), 0);
	assert_int_equal(fs_metadata_list_set(&set, "k", "v"), 0);
	assert_int_equal(fs_metadata_list_set(&rm, "old", ""), 0);
	assert_int_equal(fs_dav_proppatch_body(&set, &rm, &body, &size), 0);
	assert_int_equal(strlen(body), size);
	doc = xmlReadMemory(body, (int)size, NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	assert_non_null(strstr(body, "<D:remove><D:prop><L:old/>"));
	assert_non_null(strstr(body, "<L:_1st>a&lt;&amp;&gt;&quot;&apos; z"
				     "</L:_1st>"));
	free(body);
	fs_metadata_list_clear(&set);
	fs_metadata_list_clear(&rm);

	body = fs_dav_propfind_body(DAV_PROPFIND_STAT);
	doc = xmlReadMemory(body, (int)strlen(body), NULL, NULL, 0);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	free(body);
	(void)c;
}

static void test_dates(void **state)
{
	int64_t ns = 0;

	(void)state;
	assert_true(
		fs_dav_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &ns));
	assert_int_equal(ns, 784111777LL * 1000000000);
	assert_true(
		fs_dav_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &ns));
	assert_int_equal(ns, 784111777LL * 1000000000);
	assert_true(fs_dav_parse_http_date("Sun Nov  6 08:49:37 1994", &ns));
	assert_int_equal(ns, 784111777LL * 1000000000);
	assert_false(fs_dav_parse_http_date("yesterday", &ns));
	assert_false(
		fs_dav_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &ns));
	assert_false(
		fs_dav_parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT", &ns));
}

static void test_temporary_names(void **state)
{
	struct fs *fs = open_fs("dav+http://h/");
	struct fs_limits limits;
	char *a = fs_dav_tmp_key("dir/sub/key"), *b = fs_dav_tmp_key("key");

	(void)state;
	assert_int_equal(strncmp(a, "dir/sub/" DAV_TMP_PREFIX, 8 + 11), 0);
	assert_int_equal(strlen(a), 8 + DAV_TMP_ROOM);
	assert_int_equal(strncmp(b, DAV_TMP_PREFIX, 11), 0);
	assert_string_not_equal(a + 8, b);
	/* reserved: no key can be one, listings leave them out */
	assert_int_equal(fs_key_validate(a, NULL), -EINVAL);
	free(a);
	free(b);
	fs_get_limits(fs, &limits);
	assert_int_equal(limits.key_max, FS_KEY_MAX - DAV_TMP_ROOM);
	assert_int_equal(limits.metadata_max, FS_METADATA_TOTAL_MAX);
	fs_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multistatus),
		cmocka_unit_test(test_multistatus_default_ns),
		cmocka_unit_test(test_multistatus_bad),
		cmocka_unit_test(test_hrefs),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_temporary_names),
	};

	unsetenv("LIBFS_DAV_PASSWORD");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_not_built(void **state)
{
	(void)state;
	print_message("[  SKIP    ] the WebDAV driver is not built\n");
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_built),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
