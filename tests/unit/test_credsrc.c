/*
 * test_credsrc.c: the credential sources beyond the static ones, and
 * the parser's limits: the AWS CLI's cache keys (compared with what
 * botocore itself computes), the STS XML reader, named profiles that
 * cannot be resolved (never another identity: fakeaws.py as IMDS
 * records that nobody asked it), SSO's "run aws sso login" messages,
 * values over a limit named as such, and duplicate checks in linear
 * time.
 */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_testutil.h"

#include "aws_int.h"
#include "ist/aws.h"

/* Runs python3 with botocore; returns its stdout's first line. */
static void
botocore_line(const char *script, char *out, size_t n)
{
	char cmd[4096];
	FILE *fp;

	tu_snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c '%s'", script);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_non_null(fgets(out, (int)n, fp));
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(fp), 0);
}

/* The keys must be botocore's, byte for byte, or the cache is not shared. */
static void
test_cache_keys_match_botocore(void **state)
{
	struct sts_args a = { 0 };
	char key[41], want[128];

	(void)state;
	/* Every argument, with quotes, backslashes, non-ASCII and astral
	 * characters that json.dumps escapes. */
	a.role_arn = "arn:aws:iam::123456789012:role/x";
	a.session_name = "s";
	a.duration = 3600;
	a.external_id = "e\"\\\xc3\xa9\xf0\x9f\x98\x80\t";
	a.serial = "arn:aws:iam::123456789012:mfa/me";
	assert_int_equal(aws_cache_key_assume(&a, true, key), 0);
	botocore_line("from botocore.credentials import "
	    "AssumeRoleCredentialFetcher as A\n"
	    "print(A(None, None, \"arn:aws:iam::123456789012:role/x\", "
	    "extra_args={\"RoleSessionName\": \"s\", \"DurationSeconds\": "
	    "3600, \"ExternalId\": \"e\\\"\\\\\\u00e9\\U0001F600\\t\", "
	    "\"SerialNumber\": \"arn:aws:iam::123456789012:mfa/me\"})"
	    "._cache_key)", want, sizeof(want));
	assert_string_equal(key, want);

	/* The generated session name is not part of the key. */
	memset(&a, 0, sizeof(a));
	a.role_arn = "arn:aws:iam::123456789012:role/fleet";
	a.session_name = "iot-ssh-proxy-1";
	assert_int_equal(aws_cache_key_assume(&a, false, key), 0);
	botocore_line("from botocore.credentials import "
	    "AssumeRoleCredentialFetcher as A\n"
	    "print(A(None, None, \"arn:aws:iam::123456789012:role/fleet\")"
	    "._cache_key)", want, sizeof(want));
	assert_string_equal(key, want);

	/* SSO: sessionName for sso-session profiles, else startUrl. */
	assert_int_equal(aws_cache_key_sso("123456789012", "Admin", "dev",
	    "https://d-1.awsapps.com/start", key), 0);
	botocore_line("from botocore.credentials import "
	    "SSOCredentialFetcher as S\n"
	    "print(S(\"https://d-1.awsapps.com/start\", \"us-east-1\", "
	    "\"Admin\", \"123456789012\", None, sso_session_name=\"dev\")"
	    "._cache_key)", want, sizeof(want));
	assert_string_equal(key, want);
	assert_int_equal(aws_cache_key_sso("123456789012", "Admin", NULL,
	    "https://d-1.awsapps.com/start", key), 0);
	botocore_line("from botocore.credentials import "
	    "SSOCredentialFetcher as S\n"
	    "print(S(\"https://d-1.awsapps.com/start\", \"us-east-1\", "
	    "\"Admin\", \"123456789012\", None)._cache_key)", want,
	    sizeof(want));
	assert_string_equal(key, want);

	/* The SSO token file: SHA-1 of the session name. */
	aws_sha1_hex("dev", key);
	botocore_line("import hashlib; print(hashlib.sha1(b\"dev\")"
	    ".hexdigest())", want, sizeof(want));
	assert_string_equal(key, want);
}

static char *
xml(const char *doc, const char *a, const char *b, const char *c)
{
	const char *path[3] = { a, b, c };

	return aws_xml_text(doc, strlen(doc), path, c ? 3 : b ? 2 : 1);
}

static void
test_sts_xml(void **state)
{
	static const char ok[] = "<?xml version=\"1.0\"?>\n"
	    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/"
	    "2011-06-15/\">\n <AssumeRoleResult>\n  <AssumedRoleUser><Arn>"
	    "arn:x</Arn></AssumedRoleUser>\n  <Credentials>\n"
	    "   <AccessKeyId>ASIA1</AccessKeyId>\n"
	    "   <SecretAccessKey>a&amp;b&lt;&#61;</SecretAccessKey>\n"
	    "   <Empty/>\n  </Credentials>\n </AssumeRoleResult>\n"
	    "</AssumeRoleResponse>\n";
	char *v;

	(void)state;
	v = xml(ok, "AssumeRoleResponse", "AssumeRoleResult", "Credentials");
	assert_null(v); /* an element, not text */
	v = aws_xml_text(ok, strlen(ok), (const char *const[]){
	    "AssumeRoleResponse", "AssumeRoleResult", "Credentials",
	    "AccessKeyId" }, 4);
	assert_string_equal(v, "ASIA1");
	free(v);
	v = aws_xml_text(ok, strlen(ok), (const char *const[]){
	    "AssumeRoleResponse", "AssumeRoleResult", "Credentials",
	    "SecretAccessKey" }, 4);
	assert_string_equal(v, "a&b<=");
	free(v);
	v = aws_xml_text(ok, strlen(ok), (const char *const[]){
	    "AssumeRoleResponse", "AssumeRoleResult", "Credentials",
	    "Empty" }, 4);
	assert_string_equal(v, "");
	free(v);
	/* The same name elsewhere in the tree is not found by path. */
	assert_null(xml(ok, "AssumeRoleResponse", "AccessKeyId", NULL));
	/* Malformed: unbalanced, unknown entity, CDATA, truncated. */
	assert_null(xml("<A><B>x</C></A>", "A", "B", NULL));
	assert_null(xml("<A><B>&foo;</B></A>", "A", "B", NULL));
	assert_null(xml("<A><B><![CDATA[x]]></B></A>", "A", "B", NULL));
	assert_null(xml("<A><B>x</B>", "A", "B", NULL));
	assert_null(xml("", "A", NULL, NULL));
}

/* Bug (issue 13, item 7): the duplicate checks were quadratic. */
static void
test_ini_duplicate_checks_linear(void **state)
{
	struct ist_err e;
	struct ini *ini;
	struct dstr d;
	char *text;
	int n;

	(void)state;
	/* 60000 sections (inside the 1 MiB cap), then one repeated. */
	dstr_init(&d, 2 * 1024 * 1024);
	for (n = 0; n < 60000; n++)
		dstr_addf(&d, "[s%d]\n", n);
	text = dstr_take(&d);
	assert_non_null(text);
	assert_true(strlen(text) < 1024 * 1024);
	assert_int_equal(ini_parse("many", text, strlen(text), &ini, &e), 0);
	assert_int_equal(ini->nsec, 60000);
	assert_string_equal(ini->sec[59999].name, "s59999");
	assert_non_null(ini_section(ini, "s31337"));
	ini_free(ini);
	free(text);
	dstr_init(&d, 2 * 1024 * 1024);
	for (n = 0; n < 60000; n++)
		dstr_addf(&d, "[s%d]\n", n);
	dstr_add(&d, "[s17]\n");
	text = dstr_take(&d);
	assert_int_equal(ini_parse("many", text, strlen(text), &ini, &e),
	    IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "many:60001: section [s17] repeats the "
	    "one at line 18"));
	free(text);

	/* 90000 keys in one section, then one repeated. */
	dstr_init(&d, 2 * 1024 * 1024);
	dstr_add(&d, "[k]\n");
	for (n = 0; n < 90000; n++)
		dstr_addf(&d, "k%d=\n", n);
	text = dstr_take(&d);
	assert_true(strlen(text) < 1024 * 1024);
	assert_int_equal(ini_parse("keys", text, strlen(text), &ini, &e), 0);
	assert_int_equal(ini->nsec, 1);
	assert_int_equal(ini->sec[0].nkv, 90000);
	assert_non_null(ini_get(&ini->sec[0], "k89999"));
	ini_free(ini);
	free(text);
	dstr_init(&d, 2 * 1024 * 1024);
	dstr_add(&d, "[k]\n");
	for (n = 0; n < 90000; n++)
		dstr_addf(&d, "k%d=\n", n);
	dstr_add(&d, "K5 = again\n");
	text = dstr_take(&d);
	assert_int_equal(ini_parse("keys", text, strlen(text), &ini, &e),
	    IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "keys:90002: key 'k5' repeats line 7"));
	free(text);
	/* The same key in two sections is no duplicate. */
	text = "[a]\nx=1\n[b]\nx=2\n";
	assert_int_equal(ini_parse("two", text, strlen(text), &ini, &e), 0);
	assert_string_equal(ini_get(&ini->sec[1], "x"), "2");
	ini_free(ini);
}

/* Bug (issue 13, item 9): values over a limit read "out of memory". */
static void
test_values_over_limit_named(void **state)
{
	struct ist_aws_opts o = { 0 };
	struct ist_aws *a = NULL;
	struct ist_creds c;
	struct ist_err e;
	char *big = malloc(20001);

	(void)state;
	assert_non_null(big);
	memset(big, 'A', 20000);
	big[20000] = '\0';
	/* A session token over 16 KiB was dropped from the request but
	 * still signed: refused now, by name. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	setenv("AWS_SESSION_TOKEN", big, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "AWS_SESSION_TOKEN has 20000 bytes, "
	    "over the limit of 16000"));
	unsetenv("AWS_SESSION_TOKEN");
	big[200] = '\0';
	setenv("AWS_ACCESS_KEY_ID", big, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID has 200 bytes, over "
	    "the limit of 128"));
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	big[200] = 'A';
	/* In a file: the setting, the file and the section. */
	big[300] = '\0';
	{
		char cfg[1024];

		tu_snprintf(cfg, sizeof(cfg), "[default]\naws_access_key_id = "
		    "%s\naws_secret_access_key = s\n", big);
		tu_write(".aws/credentials", cfg, 0600);
	}
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "credentials:1: [default]: "
	    "aws_access_key_id has 300 bytes"));
	tu_write(".aws/credentials", "", 0600);
	big[300] = 'A';

	big[5000] = '\0';
	setenv("AWS_PROFILE", big, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "AWS_PROFILE) is over 1024 bytes"));
	unsetenv("AWS_PROFILE");

	setenv("AWS_REGION", "us-east-1", 1);
	setenv("HTTPS_PROXY", big, 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "HTTPS_PROXY is over 4000 bytes"));
	unsetenv("HTTPS_PROXY");

	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", big, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI is "
	    "over 4000 bytes"));
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	free(big);
}

/*
 * A named profile that cannot be resolved fails with its file and line
 * and never reaches the container or the instance.
 */
static void
test_named_profile_authoritative(void **state)
{
	const char *noargs[] = { NULL };
	struct tu_server s;
	struct ist_creds c;
	struct ist_err e;
	char *log;

	(void)state;
	tu_server_start(&s, noargs);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url, 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	tu_write(".aws/config", "[default]\nregion = us-east-1\n\n"
	    "[profile empty]\nregion = us-east-1\n"
	    "[profile half]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "[profile both]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "source_profile = empty\ncredential_source = Environment\n"
	    "[profile nosrc]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "source_profile = nowhere\n"
	    "[profile badsrc]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "credential_source = Ec2InstanceMetadatum\n"
	    "[profile envsrc]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "credential_source = Environment\n"
	    "[profile srcempty]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "source_profile = empty\n"
	    "[profile self]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "source_profile = self\n"
	    "[profile wit]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "web_identity_token_file = /nonexistent/token\n", 0600);

	assert_int_equal(ist_creds_resolve("empty", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "/.aws/config:4, from the profile "
	    "option) has no credentials"));
	setenv("AWS_PROFILE", "empty", 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "from AWS_PROFILE) has no credentials"));
	unsetenv("AWS_PROFILE");
	assert_int_equal(ist_creds_resolve("half", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "config:7) has role_arn but neither "
	    "source_profile nor credential_source"));
	assert_int_equal(ist_creds_resolve("both", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "has both source_profile and "
	    "credential_source"));
	assert_int_equal(ist_creds_resolve("nosrc", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "config:14: source_profile = nowhere: "
	    "no such profile"));
	assert_int_equal(ist_creds_resolve("badsrc", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "config:17: credential_source = "
	    "Ec2InstanceMetadatum is not one of"));
	assert_int_equal(ist_creds_resolve("envsrc", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "credential_source = Environment found "
	    "no credentials: set AWS_ACCESS_KEY_ID"));
	assert_int_equal(ist_creds_resolve("srcempty", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "source_profile empty has no "
	    "credentials"));
	assert_int_equal(ist_creds_resolve("self", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "makes a loop (self -> self)"));
	assert_int_equal(ist_creds_resolve("wit", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "cannot read the web identity token "
	    "file /nonexistent/token"));
	/* Instance metadata was there all along, and nobody asked it. */
	log = tu_server_log(&s);
	assert_string_equal(log, "");
	free(log);
	/* The default profile, not named, still falls through to it. */
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "ASIAFAKEMETADATA");
	ist_creds_clear(&c);
	tu_server_stop(&s);
}

static void
test_sso_login_hints(void **state)
{
	struct ist_creds c;
	struct ist_err e;
	char path[600], key[41];

	(void)state;
	tu_write(".aws/config", "[profile legacy]\nsso_start_url = "
	    "https://d-1.awsapps.com/start\nsso_region = us-east-1\n"
	    "sso_account_id = 123456789012\nsso_role_name = Admin\n"
	    "[profile new]\nsso_session = dev\nsso_account_id = 123456789012\n"
	    "sso_role_name = Admin\n[sso-session dev]\nsso_start_url = "
	    "https://d-1.awsapps.com/start\nsso_region = us-east-1\n"
	    "[profile nosession]\nsso_session = gone\n"
	    "sso_account_id = 1\nsso_role_name = A\n"
	    "[profile norole]\nsso_session = dev\n"
	    "sso_account_id = 123456789012\n", 0600);
	assert_int_equal(ist_creds_resolve("legacy", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "no SSO token: run: aws sso login "
	    "--profile legacy"));
	assert_int_equal(ist_creds_resolve("new", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "no SSO token: run: aws sso login "
	    "--sso-session dev"));
	assert_int_equal(ist_creds_resolve("nosession", &c, &e),
	    IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "no [sso-session gone] section"));
	assert_int_equal(ist_creds_resolve("norole", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "lacks sso_role_name"));

	/* An expired token, with no refresh token: log in again. */
	tu_snprintf(path, sizeof(path), "%s/.aws/sso", tu_home);
	assert_int_equal(mkdir(path, 0700), 0);
	tu_snprintf(path, sizeof(path), "%s/.aws/sso/cache", tu_home);
	assert_int_equal(mkdir(path, 0700), 0);
	aws_sha1_hex("https://d-1.awsapps.com/start", key);
	tu_snprintf(path, sizeof(path), ".aws/sso/cache/%s.json", key);
	tu_write(path, "{\"startUrl\": \"https://d-1.awsapps.com/start\", "
	    "\"region\": \"us-east-1\", \"accessToken\": \"tok-SECRET\", "
	    "\"expiresAt\": \"2001-01-01T00:00:00Z\"}", 0600);
	assert_int_equal(ist_creds_resolve("legacy", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "the SSO token has expired: run: aws "
	    "sso login --profile legacy"));
	assert_null(strstr(e.msg, "SECRET"));
	/* A token file others could write is refused, as the shared files. */
	tu_write(path, "{}", 0622);
	assert_int_equal(ist_creds_resolve("legacy", &c, &e), IST_ERR_UNSAFE);
}

/* The CLI's cache: read when valid, ignored within 5 minutes of expiry. */
static void
test_cli_cache_read(void **state)
{
	struct sts_args a = { 0 };
	struct ist_creds c;
	struct ist_err e;
	char key[41], rel[300], text[1024];
	time_t soon = time(NULL) + 200, later = time(NULL) + 3600;
	struct tm tm;
	char t1[40], t2[40];

	(void)state;
	gmtime_r(&soon, &tm);
	strftime(t1, sizeof(t1), "%Y-%m-%dT%H:%M:%SUTC", &tm);
	gmtime_r(&later, &tm);
	strftime(t2, sizeof(t2), "%Y-%m-%dT%H:%M:%SUTC", &tm);
	tu_write(".aws/config", "[profile r]\nrole_arn = "
	    "arn:aws:iam::123456789012:role/r\nsource_profile = s\n"
	    "[profile s]\nregion = us-east-1\n", 0600);
	a.role_arn = "arn:aws:iam::123456789012:role/r";
	a.session_name = "x";
	assert_int_equal(aws_cache_key_assume(&a, false, key), 0);
	tu_snprintf(rel, sizeof(rel), "%s/.aws/cli", tu_home);
	assert_int_equal(mkdir(rel, 0700), 0);
	tu_snprintf(rel, sizeof(rel), "%s/.aws/cli/cache", tu_home);
	assert_int_equal(mkdir(rel, 0700), 0);
	tu_snprintf(rel, sizeof(rel), ".aws/cli/cache/%s.json", key);
	/* As botocore's JSONFileCache writes it ("...UTC"). */
	tu_snprintf(text, sizeof(text), "{\"Credentials\": {\"AccessKeyId\": "
	    "\"ASIACACHED\", \"SecretAccessKey\": \"cached-SECRET\", "
	    "\"SessionToken\": \"cached-token\", \"Expiration\": \"%s\"}}", t2);
	tu_write(rel, text, 0600);
	assert_int_equal(ist_creds_resolve("r", &c, &e), 0);
	assert_string_equal(c.access_key_id, "ASIACACHED");
	assert_string_equal(c.session_token, "cached-token");
	assert_non_null(strstr(c.source, "cached"));
	ist_creds_clear(&c);
	/* Within the margin: not used; the source (no keys) then fails. */
	tu_snprintf(text, sizeof(text), "{\"Credentials\": {\"AccessKeyId\": "
	    "\"ASIACACHED\", \"SecretAccessKey\": \"cached-SECRET\", "
	    "\"SessionToken\": \"cached-token\", \"Expiration\": \"%s\"}}", t1);
	tu_write(rel, text, 0600);
	assert_int_equal(ist_creds_resolve("r", &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "source_profile s has no credentials"));
	/* A cache folder others can write: refused. */
	tu_snprintf(text, sizeof(text), "{\"Credentials\": {\"AccessKeyId\": "
	    "\"ASIACACHED\", \"SecretAccessKey\": \"cached-SECRET\", "
	    "\"SessionToken\": \"cached-token\", \"Expiration\": \"%s\"}}", t2);
	tu_write(rel, text, 0600);
	tu_snprintf(rel, sizeof(rel), "%s/.aws/cli/cache", tu_home);
	assert_int_equal(chmod(rel, 0777), 0);
	assert_int_equal(ist_creds_resolve("r", &c, &e), IST_ERR_UNSAFE);
	assert_int_equal(chmod(rel, 0700), 0);
}

/* Endpoints as botocore finds them, service-specific first. */
static void
test_service_endpoints(void **state)
{
	struct aws_profile p;
	struct ist_err e;
	char *u = NULL;

	(void)state;
	tu_write(".aws/config", "[profile x]\nendpoint_url = https://global/\n"
	    "services = local\n[services local]\nsts =\n  endpoint_url = "
	    "http://127.0.0.1:9/sts/\nsso =\n  region = eu-west-1\n", 0600);
	assert_int_equal(aws_profile_load(&p, "x", &e), 0);
	setenv("AWS_ENDPOINT_URL_STS", "https://sts.env:8443", 1);
	setenv("AWS_ENDPOINT_URL", "https://env-global", 1);
	assert_int_equal(aws_service_endpoint(&p, "sts", "https://d", &u, &e),
	    0);
	assert_string_equal(u, "https://sts.env:8443");
	free(u);
	unsetenv("AWS_ENDPOINT_URL_STS");
	assert_int_equal(aws_service_endpoint(&p, "sts", "https://d", &u, &e),
	    0);
	assert_string_equal(u, "http://127.0.0.1:9/sts"); /* [services] */
	free(u);
	/* The section has sso, but no endpoint_url for it: the global one. */
	assert_int_equal(aws_service_endpoint(&p, "sso", "https://d", &u, &e),
	    0);
	assert_string_equal(u, "https://env-global");
	free(u);
	unsetenv("AWS_ENDPOINT_URL");
	assert_int_equal(aws_service_endpoint(&p, "sso_oidc", "https://d", &u,
	    &e), 0);
	assert_string_equal(u, "https://global"); /* the profile's */
	free(u);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	assert_int_equal(aws_service_endpoint(&p, "sts", "https://d", &u, &e),
	    0);
	assert_string_equal(u, "https://d");
	free(u);
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	setenv("AWS_ENDPOINT_URL_SSO_OIDC", "ftp://x", 1);
	assert_int_equal(aws_service_endpoint(&p, "sso_oidc", "https://d", &u,
	    &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_SSO_OIDC 'ftp://x'"));
	aws_profile_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_keys_match_botocore,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sts_xml, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(
		    test_ini_duplicate_checks_linear, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_values_over_limit_named,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(
		    test_named_profile_authoritative, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sso_login_hints, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_cli_cache_read, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_service_endpoints,
		    tu_setup, tu_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
