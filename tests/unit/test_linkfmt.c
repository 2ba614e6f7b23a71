/*
 * test_linkfmt.c - /.well-known/core and listings (src/proto/linkfmt.c),
 * RFC 6690.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "adapt/cfg.h"
#include "proto/acl.h"
#include "proto/coap_msg.h"
#include "proto/linkfmt.h"

#include "helpers.h"

static struct cfg_route routes[4];
static struct cfg cfg;

static void
route(struct cfg_route *r, const char *path, const char *rt, const char *if_,
    int ct, const char *title, bool observe)
{
	memset(r, 0, sizeof(*r));
	r->path = (char *)path;
	r->path_len = strlen(path);
	r->kind = ROUTE_STATIC;
	r->rt = (char *)rt;
	r->if_ = (char *)if_;
	r->ct = ct;
	r->title = (char *)title;
	r->observe = observe;
	r->max_age = 60;
}

static void
setup(void)
{
	route(&routes[0], "/fw", "firmware core.fw", "core.rp", 42,
	    "Firmware images", false);
	route(&routes[1], "/sensors/temp", "temperature-c", "sensor", 0,
	    NULL, true);
	route(&routes[2], "/hooks/reboot", NULL, NULL, -1, NULL, false);
	route(&routes[3], "/.well-known/core", NULL, NULL, 40, NULL, false);
	memset(&cfg, 0, sizeof(cfg));
	cfg.routes = routes;
	cfg.nroutes = 4;
}

/* The routes as cfg.c hands them to linkfmt. */
static ssize_t
wellknown(const struct coap_msg *m, char *out, size_t cap)
{
	struct linkfmt_entry l[sizeof(routes) / sizeof(routes[0])];
	size_t		 i;

	for (i = 0; i < cfg.nroutes; i++)
		l[i] = (struct linkfmt_entry){ .href = cfg.routes[i].path,
		    .rt = cfg.routes[i].rt, .if_ = cfg.routes[i].if_,
		    .title = cfg.routes[i].title, .ct = cfg.routes[i].ct,
		    .obs = cfg.routes[i].observe };
	return linkfmt_wellknown(l, cfg.nroutes, m, NULL, out, cap);
}

#define ALL	"</fw>;rt=\"firmware core.fw\";if=\"core.rp\";ct=42;"	\
		"title=\"Firmware images\","				\
		"</sensors/temp>;rt=\"temperature-c\";if=\"sensor\";ct=0;obs," \
		"</hooks/reboot>"
#define FW	"</fw>;rt=\"firmware core.fw\";if=\"core.rp\";ct=42;"	\
		"title=\"Firmware images\""
#define TEMP	"</sensors/temp>;rt=\"temperature-c\";if=\"sensor\";ct=0;obs"

/* GET /.well-known/core with the given Uri-Query options, rendered. */
static ssize_t
render(const char *const *queries, size_t nq, char *out, size_t cap)
{
	struct coap_enc e;
	struct coap_msg m;
	uint8_t buf[256];
	ssize_t n;
	size_t i;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1, NULL,
	    0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, ".well-known", 11);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "core", 4);
	for (i = 0; i < nq; i++)
		coap_enc_opt(&e, COAP_OPT_URI_QUERY, queries[i],
		    strlen(queries[i]));
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)n), 0);
	return wellknown(&m, out, cap);
}

static void
expect(const char *query, const char *doc)
{
	char out[1024];
	ssize_t n;

	n = render(query != NULL ? &query : NULL, query != NULL, out,
	    sizeof(out));
	ck_assert_msg(n == (ssize_t)strlen(doc), "%s: length %zd, want %zu",
	    query, n, strlen(doc));
	ck_assert_msg(memcmp(out, doc, strlen(doc)) == 0, "%s: got %.*s",
	    query, (int)n, out);
}

/* RFC 6690 §4: every resource but /.well-known/core itself. */
START_TEST(rfc_document)
{
	char out[1024];
	ssize_t n;

	expect(NULL, ALL);
	/* No message at all: no filter. */
	n = wellknown(NULL, out, sizeof(out));
	ck_assert_int_eq(n, (ssize_t)strlen(ALL));
	ck_assert_mem_eq(out, ALL, strlen(ALL));
}
END_TEST

START_TEST(nospace)
{
	char out[1024];

	ck_assert_int_eq(render(NULL, 0, out, strlen(ALL) - 1), -ENOSPC);
	ck_assert_int_eq(render(NULL, 0, out, strlen(ALL)),
	    (ssize_t)strlen(ALL));
	ck_assert_int_eq(render(NULL, 0, out, 0), -ENOSPC);
}
END_TEST

/* RFC 6690 §4.1: href filter, exact or prefix with a trailing '*'. */
START_TEST(rfc_filter_href)
{
	expect("href=/fw", FW);
	expect("href=/f*", FW);
	expect("href=/fw*", FW);
	expect("href=/fwx", "");
	expect("href=/s*", TEMP);
	expect("href=*", ALL);
	expect("href=/sensors", "");
}
END_TEST

/* RFC 6690 §4.1, §3.1: rt holds a space-separated list; any item matches. */
START_TEST(rfc_filter_rt)
{
	expect("rt=firmware", FW);
	expect("rt=core.fw", FW);
	expect("rt=core*", FW);
	expect("rt=temp*", TEMP);
	expect("rt=firmware core.fw", "");	/* an item, not the list */
	expect("rt=firm", "");
	expect("rt=*", FW "," TEMP);
}
END_TEST

START_TEST(rfc_filter_if)
{
	expect("if=sensor", TEMP);
	expect("if=core.r*", FW);
	expect("if=core", "");
}
END_TEST

START_TEST(rfc_filter_ct)
{
	expect("ct=0", TEMP);
	expect("ct=42", FW);
	expect("ct=4*", FW);
	expect("ct=40", "");
	expect("ct=*", FW "," TEMP);
}
END_TEST

START_TEST(rfc_filter_title_obs)
{
	expect("title=Firmware images", FW);
	expect("title=Firm*", FW);
	expect("title=Firmware", "");
	expect("obs", TEMP);
	expect("obs=1", "");
}
END_TEST

/* Attributes none of our links carry match nothing. */
START_TEST(filter_unknown)
{
	expect("rel=alternate", "");
	expect("anchor=/x", "");
	expect("sz=10", "");
	expect("foo", "");
	expect("", "");
}
END_TEST

/* Several filters: a link has to satisfy all of them. */
START_TEST(filter_and)
{
	const char *q1[] = { "rt=firmware", "ct=42" };
	const char *q2[] = { "rt=firmware", "ct=0" };
	char out[1024];
	ssize_t n;

	n = render(q1, 2, out, sizeof(out));
	ck_assert_int_eq(n, (ssize_t)strlen(FW));
	ck_assert_mem_eq(out, FW, strlen(FW));
	ck_assert_int_eq(render(q2, 2, out, sizeof(out)), 0);
}
END_TEST

/* Quoted-strings escape '"' and '\'; hrefs are percent-encoded. */
START_TEST(escaping)
{
	char out[256];
	ssize_t n;
	const char *want = "</a%20b%2Cc%3Bd%3E%25%C3%A9>;"
	    "rt=\"x\\\"y\\\\z\";title=\"t\"";

	route(&routes[0], "/a b,c;d>%\xc3\xa9", "x\"y\\z", NULL, -1, "t",
	    false);
	cfg.nroutes = 1;
	n = wellknown(NULL, out, sizeof(out));
	ck_assert_int_eq(n, (ssize_t)strlen(want));
	ck_assert_mem_eq(out, want, strlen(want));
}
END_TEST

/* Only the routes whose allow lets the asking client in are listed. */
static ssize_t
render_for(struct acl *fw, struct acl *temp, const char *psk,
    const char *addr, char *out, size_t cap)
{
	struct linkfmt_entry l[3] = {
		{ .href = "/fw", .ct = -1, .acl = fw },
		{ .href = "/sensors/temp", .ct = -1, .acl = temp },
		{ .href = "/hooks/reboot", .ct = -1 },
	};
	struct sockaddr_in a;
	struct linkfmt_who who;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, &a.sin_addr), 1);
	who = (struct linkfmt_who){ psk, (const struct sockaddr *)&a,
	    sizeof(a) };
	return linkfmt_wellknown(l, 3, NULL, &who, out, cap);
}

START_TEST(acl_hides_routes)
{
	char *admin_e[] = { "psk:admin" }, *lan_e[] = { "net:192.0.2.0/24" };
	struct acl *admin, *lan;
	char out[256], err[64];
	size_t bad;
	ssize_t n;

	ck_assert_int_eq(acl_compile(admin_e, 1, &admin, &bad, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(acl_compile(lan_e, 1, &lan, &bad, err, sizeof(err)),
	    0);
	n = render_for(admin, lan, NULL, "192.0.2.7", out, sizeof(out));
	ck_assert_str_eq(out, "</sensors/temp>,</hooks/reboot>");
	ck_assert_int_eq(n, (ssize_t)strlen(out));
	render_for(admin, lan, NULL, "198.51.100.1", out, sizeof(out));
	ck_assert_str_eq(out, "</hooks/reboot>");
	render_for(admin, lan, "admin", "198.51.100.1", out, sizeof(out));
	ck_assert_str_eq(out, "</fw>,</hooks/reboot>");
	render_for(admin, lan, "sensor-1", "198.51.100.1", out, sizeof(out));
	ck_assert_str_eq(out, "</hooks/reboot>");
	acl_free(admin);
	acl_free(lan);
}
END_TEST

START_TEST(append)
{
	char out[64];
	size_t len = 0;

	ck_assert_int_eq(linkfmt_append(out, sizeof(out), &len, "/d/a.txt",
	    0, NULL), 0);
	ck_assert_uint_eq(len, strlen("</d/a.txt>;ct=0"));
	ck_assert_mem_eq(out, "</d/a.txt>;ct=0", len);
	ck_assert_int_eq(linkfmt_append(out, sizeof(out), &len, "/d/sub", 40,
	    "dir"), 0);
	ck_assert_str_eq(out, "</d/a.txt>;ct=0,</d/sub>;rt=\"dir\";ct=40");
	ck_assert_int_eq(linkfmt_append(out, sizeof(out), &len, "/d/x", -1,
	    NULL), 0);
	ck_assert_str_eq(out,
	    "</d/a.txt>;ct=0,</d/sub>;rt=\"dir\";ct=40,</d/x>");
	/* No room: -ENOSPC and len unchanged. */
	len = strlen(out);
	ck_assert_int_eq(linkfmt_append(out, len + 5, &len, "/d/yy", -1,
	    NULL), -ENOSPC);
	ck_assert_uint_eq(len, strlen(
	    "</d/a.txt>;ct=0,</d/sub>;rt=\"dir\";ct=40,</d/x>"));
	/* Exactly enough room (no terminator needed). */
	ck_assert_int_eq(linkfmt_append(out, len + 7, &len, "/d/y", -1,
	    NULL), 0);
	ck_assert_mem_eq(out + len - 7, ",</d/y>", 7);
}
END_TEST

static Suite *
linkfmt_suite(void)
{
	Suite *s = suite_create("linkfmt");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, rfc_document);
	tcase_add_test(tc, nospace);
	tcase_add_test(tc, rfc_filter_href);
	tcase_add_test(tc, rfc_filter_rt);
	tcase_add_test(tc, rfc_filter_if);
	tcase_add_test(tc, rfc_filter_ct);
	tcase_add_test(tc, rfc_filter_title_obs);
	tcase_add_test(tc, filter_unknown);
	tcase_add_test(tc, filter_and);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, acl_hides_routes);
	tcase_add_test(tc, append);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(linkfmt_suite());
}
