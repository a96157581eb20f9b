/*
 * test_sigv4.c: every header-signing case of the AWS SigV4 test suite, in
 * both layouts (tests/data/sigv4, see its README.md), plus verification
 * with a given SignedHeaders list, as the emulator uses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "ist/sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN_VANILLA \
	"6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

/* snprintf that fails the test on truncation. */
#define xsnprintf(buf, size, ...) \
	assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static char sts_token[1024]; /* read from post-sts-token/readme.txt */

static char *
slurp(const char *dir, const char *name)
{
	char path[1024];
	FILE *fp;
	char *buf;
	long n;

	xsnprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* A parsed raw HTTP request, as the suite's .req / request.txt hold it. */
struct raw_req {
	char *method, *path, *query;
	struct ist_header h[32];
	char *hv[32]; /* owned values (folded) */
	size_t nh;
	char *body;
	size_t body_len;
	char *buf;
};

static void
parse_req(char *text, struct raw_req *r)
{
	char *line, *next, *sp, *http;

	memset(r, 0, sizeof(*r));
	r->buf = text;
	next = strchr(text, '\n');
	if (next)
		*next++ = '\0';
	line = text;
	/* "METHOD target HTTP/1.1": the target may hold spaces. */
	sp = strchr(line, ' ');
	assert_non_null(sp);
	*sp = '\0';
	r->method = line;
	http = strstr(sp + 1, " HTTP/");
	assert_non_null(http);
	*http = '\0';
	r->path = sp + 1;
	r->query = strchr(r->path, '?');
	if (r->query)
		*r->query++ = '\0';
	while (next && *next) {
		char *colon;

		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line == '\0')
			break;
		if ((*line == ' ' || *line == '\t') && r->nh > 0) {
			/* obs-fold: the line continues the previous value. */
			size_t ol = strlen(r->hv[r->nh - 1]);
			char *nv = realloc(r->hv[r->nh - 1],
			    ol + strlen(line) + 2);

			assert_non_null(nv);
			nv[ol] = ' ';
			memcpy(nv + ol + 1, line, strlen(line) + 1);
			r->hv[r->nh - 1] = nv;
			r->h[r->nh - 1].value = nv;
			continue;
		}
		colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(r->nh < 30);
		r->hv[r->nh] = strdup(colon + 1);
		r->h[r->nh].name = line;
		r->h[r->nh].value = r->hv[r->nh];
		r->nh++;
	}
	if (next && *next == '\n')
		next++;
	r->body = next;
	r->body_len = next ? strlen(next) : 0;
}

static void
free_req(struct raw_req *r)
{
	for (size_t i = 0; i < r->nh; i++)
		free(r->hv[i]);
	free(r->buf);
}

/* The value of the Authorization line of a signed request, trimmed. */
static char *
sreq_authorization(const char *sreq)
{
	const char *p = strstr(sreq, "\nAuthorization:");
	const char *end;

	if (!p)
		return NULL;
	p += strlen("\nAuthorization:");
	while (*p == ' ')
		p++;
	end = strchr(p, '\n');
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static void
strip_final_newline(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static void
load_sts_token(const char *root)
{
	char dir[1024];
	char *t, *p;

	xsnprintf(dir, sizeof(dir), "%s/aws-sig-v4-test-suite/post-sts-token",
	    root);
	t = slurp(dir, "readme.txt");
	assert_non_null(t);
	p = strstr(t, "AQoDYXdzEPT");
	assert_non_null(p);
	p[strcspn(p, " \r\n")] = '\0';
	xsnprintf(sts_token, sizeof(sts_token), "%s", p);
	free(t);
}

static const char *
root_dir(void)
{
	static char root[1024];
	const char *d = getenv("IST_TESTDATA");

	assert_non_null(d);
	xsnprintf(root, sizeof(root), "%s/sigv4", d);
	return root;
}

/* Classic layout: <dir>/<case>.{req,creq,sts,authz,sreq}. */
static void
run_classic_case(const char *dir, const char *name)
{
	struct ist_sigv4_request req = { 0 };
	struct ist_sigv4_params p = { 0 };
	struct ist_sigv4_result res;
	struct ist_err e;
	struct raw_req raw;
	char fname[512];
	char *creq, *sts, *authz, *sreq, *sreq_auth;

	xsnprintf(fname, sizeof(fname), "%s.req", name);
	parse_req(slurp(dir, fname), &raw);
	req.method = raw.method;
	req.path = raw.path;
	req.query = raw.query;
	req.headers = raw.h;
	req.n_headers = raw.nh;
	req.body = (const uint8_t *)raw.body;
	req.body_len = raw.body_len;
	p.access_key_id = AKID;
	p.secret_access_key = SECRET;
	p.region = "us-east-1";
	p.service = "service";
	p.now = 0; /* every .req carries X-Amz-Date: it must win */
	p.normalize_path = 1;
	if (strcmp(name, "get-vanilla-with-session-token") == 0) {
		p.session_token = TOKEN_VANILLA;
		p.sign_session_token = 1;
	} else if (strcmp(name, "post-sts-header-before") == 0) {
		p.session_token = sts_token;
		p.sign_session_token = 1;
	} else if (strcmp(name, "post-sts-header-after") == 0) {
		p.session_token = sts_token;
		p.sign_session_token = 0;
	}
	if (ist_sigv4_sign(&req, &p, &res, &e) != 0)
		fail_msg("%s: %s", name, e.msg);

	xsnprintf(fname, sizeof(fname), "%s.creq", name);
	creq = slurp(dir, fname);
	xsnprintf(fname, sizeof(fname), "%s.sts", name);
	sts = slurp(dir, fname);
	xsnprintf(fname, sizeof(fname), "%s.authz", name);
	authz = slurp(dir, fname);
	xsnprintf(fname, sizeof(fname), "%s.sreq", name);
	sreq = slurp(dir, fname);
	assert_non_null(creq);
	assert_non_null(sts);
	assert_non_null(authz);
	assert_non_null(sreq);
	strip_final_newline(authz);
	if (strcmp(res.canonical_request, creq) != 0)
		fail_msg("%s: canonical request\n%s\n-- expected --\n%s", name,
		    res.canonical_request, creq);
	assert_string_equal(res.string_to_sign, sts);
	assert_string_equal(res.authorization, authz);
	assert_string_equal(res.amz_date, "20150830T123600Z");
	sreq_auth = sreq_authorization(sreq);
	assert_non_null(sreq_auth);
	if (strcmp(name, "get-vanilla-with-session-token") == 0) {
		/* Known-bad upstream .sreq: it repeats get-vanilla's value. */
		assert_string_not_equal(sreq_auth, res.authorization);
		assert_non_null(strstr(sreq_auth, "Signature=5fa00fa3"));
	} else {
		assert_string_equal(sreq_auth, res.authorization);
	}
	free(sreq_auth);
	free(creq);
	free(sts);
	free(authz);
	free(sreq);
	ist_sigv4_result_free(&res);
	free_req(&raw);
}

static int
walk_classic(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char sub[1024], req[1100];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		xsnprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		xsnprintf(req, sizeof(req), "%s/%s.req", sub, de->d_name);
		if (stat(req, &st) == 0) {
			run_classic_case(sub, de->d_name);
			n++;
		} else {
			n += walk_classic(sub);
		}
	}
	closedir(d);
	return n;
}

static void
test_classic_layout(void **state)
{
	char dir[1024];

	(void)state;
	load_sts_token(root_dir());
	xsnprintf(dir, sizeof(dir), "%s/aws-sig-v4-test-suite", root_dir());
	/*
	 * All 34 .req files (the README counts 33 upstream cases plus
	 * botocore's extra get-special-character), so a case silently
	 * skipped fails the test.
	 */
	assert_int_equal(walk_classic(dir), 34);
}

static time_t
parse_iso(const char *s)
{
	struct tm tm = { 0 };

	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* aws-c-auth layout: context.json, request.txt, header-*.txt. */
static void
run_cauth_case(const char *dir, const char *name)
{
	struct ist_sigv4_request req = { 0 };
	struct ist_sigv4_params p = { 0 };
	struct ist_sigv4_result res;
	struct ist_err e;
	struct raw_req raw;
	cJSON *ctx, *creds, *tok;
	char body_hash[65];
	char *ctxt, *creq, *sts, *sig, *sreq, *sreq_auth;

	ctxt = slurp(dir, "context.json");
	assert_non_null(ctxt);
	ctx = cJSON_Parse(ctxt);
	assert_non_null(ctx);
	free(ctxt);
	creds = cJSON_GetObjectItem(ctx, "credentials");
	parse_req(slurp(dir, "request.txt"), &raw);
	/* No X-Amz-Date in this layout: the signer adds it from "now". */
	for (size_t i = 0; i < raw.nh; i++)
		assert_int_not_equal(strcasecmp(raw.h[i].name, "x-amz-date"),
		    0);
	if (cJSON_IsTrue(cJSON_GetObjectItem(ctx, "sign_body"))) {
		/* What aws-c-auth's sign_body option does. */
		ist_sha256_hex(raw.body, raw.body_len, body_hash);
		raw.h[raw.nh].name = "x-amz-content-sha256";
		raw.hv[raw.nh] = strdup(body_hash);
		raw.h[raw.nh].value = raw.hv[raw.nh];
		raw.nh++;
	}
	req.method = raw.method;
	req.path = raw.path;
	req.query = raw.query;
	req.headers = raw.h;
	req.n_headers = raw.nh;
	req.body = (const uint8_t *)raw.body;
	req.body_len = raw.body_len;
	p.access_key_id = cJSON_GetObjectItem(creds, "access_key_id")
	    ->valuestring;
	p.secret_access_key = cJSON_GetObjectItem(creds, "secret_access_key")
	    ->valuestring;
	tok = cJSON_GetObjectItem(creds, "token");
	p.session_token = tok ? tok->valuestring : NULL;
	p.sign_session_token = !cJSON_IsTrue(cJSON_GetObjectItem(ctx,
	    "omit_session_token"));
	p.region = cJSON_GetObjectItem(ctx, "region")->valuestring;
	p.service = cJSON_GetObjectItem(ctx, "service")->valuestring;
	p.now = parse_iso(cJSON_GetObjectItem(ctx, "timestamp")->valuestring);
	p.normalize_path = cJSON_IsTrue(cJSON_GetObjectItem(ctx, "normalize"));
	if (ist_sigv4_sign(&req, &p, &res, &e) != 0)
		fail_msg("%s: %s", name, e.msg);

	creq = slurp(dir, "header-canonical-request.txt");
	sts = slurp(dir, "header-string-to-sign.txt");
	sig = slurp(dir, "header-signature.txt");
	sreq = slurp(dir, "header-signed-request.txt");
	assert_non_null(creq);
	assert_non_null(sts);
	assert_non_null(sig);
	assert_non_null(sreq);
	strip_final_newline(sig);
	if (strcmp(res.canonical_request, creq) != 0)
		fail_msg("%s: canonical request\n%s\n-- expected --\n%s", name,
		    res.canonical_request, creq);
	assert_string_equal(res.string_to_sign, sts);
	assert_string_equal(res.signature, sig);
	sreq_auth = sreq_authorization(sreq);
	assert_non_null(sreq_auth);
	assert_string_equal(sreq_auth, res.authorization);
	assert_non_null(strstr(sreq, "\nX-Amz-Date:20150830T123600Z\n"));
	free(sreq_auth);
	free(creq);
	free(sts);
	free(sig);
	free(sreq);
	ist_sigv4_result_free(&res);
	free_req(&raw);
	cJSON_Delete(ctx);
}

static void
test_cauth_layout(void **state)
{
	char dir[1024];
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	xsnprintf(dir, sizeof(dir), "%s/aws-c-auth-v4", root_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char sub[1100];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		xsnprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		run_cauth_case(sub, de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 38);
}

/* An API-like request signed, then verified as the emulator does. */
static void
test_sign_then_verify(void **state)
{
	static const char body[] = "{\"tunnelId\":\"abc\"}";
	struct ist_header h[8] = {
		{ "Host", "api.tunneling.iot.us-east-1.amazonaws.com" },
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "X-Amz-Target", "IoTSecuredTunneling.DescribeTunnel" },
	};
	struct ist_sigv4_request req = {
		.method = "POST", .path = "/", .query = "", .headers = h,
		.n_headers = 3, .body = (const uint8_t *)body,
		.body_len = sizeof(body) - 1,
	};
	struct ist_sigv4_params p = {
		.access_key_id = "AKIDTEST", .secret_access_key = "s3cr3t",
		.session_token = "TOKEN", .region = "us-east-1",
		.service = "IoTSecuredTunneling", .now = 1440938160,
		.normalize_path = 1, .sign_session_token = 1,
	};
	struct ist_sigv4_result s, v;
	struct ist_err e;
	const char *sh;
	char signed_headers[256];

	(void)state;
	assert_int_equal(ist_sigv4_sign(&req, &p, &s, &e), 0);
	assert_string_equal(s.amz_date, "20150830T123600Z");
	assert_non_null(strstr(s.authorization, "Credential=AKIDTEST/20150830/"
	    "us-east-1/IoTSecuredTunneling/aws4_request, SignedHeaders="
	    "content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "));
	assert_null(strstr(s.canonical_request, "s3cr3t"));

	/* The wire request, with headers a client adds after signing. */
	h[3] = (struct ist_header){ "X-Amz-Date", s.amz_date };
	h[4] = (struct ist_header){ "X-Amz-Security-Token", "TOKEN" };
	h[5] = (struct ist_header){ "Authorization", s.authorization };
	h[6] = (struct ist_header){ "User-Agent", "curl/7.88" };
	h[7] = (struct ist_header){ "Accept", "*/*" };
	req.n_headers = 8;
	sh = strstr(s.authorization, "SignedHeaders=") + 14;
	xsnprintf(signed_headers, sizeof(signed_headers), "%.*s",
	    (int)strcspn(sh, ","), sh);
	p.signed_headers = signed_headers;
	p.now = 0; /* the request's X-Amz-Date must be used */
	p.session_token = NULL;
	assert_int_equal(ist_sigv4_sign(&req, &p, &v, &e), 0);
	assert_string_equal(v.signature, s.signature);
	ist_sigv4_result_free(&v);

	/* A changed body, or a wrong key, gives another signature. */
	req.body_len--;
	assert_int_equal(ist_sigv4_sign(&req, &p, &v, &e), 0);
	assert_string_not_equal(v.signature, s.signature);
	ist_sigv4_result_free(&v);
	req.body_len++;
	p.secret_access_key = "wrong";
	assert_int_equal(ist_sigv4_sign(&req, &p, &v, &e), 0);
	assert_string_not_equal(v.signature, s.signature);
	ist_sigv4_result_free(&v);

	/* A signed header missing from the request is an error. */
	p.signed_headers = "host;x-amz-date;x-missing";
	assert_int_equal(ist_sigv4_sign(&req, &p, &v, &e), IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "x-missing"));
	ist_sigv4_result_free(&s);
}

static void
test_bad_inputs(void **state)
{
	struct ist_header h[2] = { { "X-Amz-Date", "2015-08-30" } };
	struct ist_sigv4_request req = { .method = "GET", .path = "/",
		.headers = h, .n_headers = 0 };
	struct ist_sigv4_params p = { .access_key_id = "A",
		.secret_access_key = "S", .region = "r", .service = "s" };
	struct ist_sigv4_result res;
	struct ist_err e;

	(void)state;
	/* No Host header. */
	assert_int_equal(ist_sigv4_sign(&req, &p, &res, &e), IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "Host"));
	/* A malformed X-Amz-Date. */
	h[1] = (struct ist_header){ "Host", "h" };
	req.n_headers = 2;
	assert_int_equal(ist_sigv4_sign(&req, &p, &res, &e), IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "X-Amz-Date"));
	/* No secret. */
	req.headers = &h[1];
	req.n_headers = 1;
	p.secret_access_key = "";
	assert_int_equal(ist_sigv4_sign(&req, &p, &res, &e), IST_ERR_INVAL);
	assert_null(res.authorization);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classic_layout),
		cmocka_unit_test(test_cauth_layout),
		cmocka_unit_test(test_sign_then_verify),
		cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
