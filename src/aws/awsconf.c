/*
 * awsconf.c: struct ist_aws, where to reach AWS IoT Secure Tunneling:
 * region, API endpoint, data-plane endpoint, CA file and HTTPS proxy,
 * resolved in the AWS SDKs' order (see include/ist/aws.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "aws_int.h"
#include "ist/aws.h"

/* Lowercase letters, digits and '-': safe inside a host name. */
static bool
valid_region(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 63 || r[0] == '-' || r[n - 1] == '-')
		return false;
	for (; *r; r++)
		if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) &&
		    *r != '-')
			return false;
	return true;
}

static bool
valid_host_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == ':';
}

/*
 * Splits "scheme://host[:port][/path]" or, when the scheme is absent and
 * bare_ok, "host[:port]". schemes lists the accepted ones with the first
 * of each pair plain and the second TLS ("http", "https"). IPv6 hosts
 * are written in brackets.
 */
int
aws_parse_url(const char *url, const char *plain, const char *tls_scheme,
    bool bare_ok, const char *what, struct ist_endpoint *ep,
    struct ist_err *e)
{
	const char *p = url, *sep, *hs, *he, *port = NULL;
	size_t pl = strlen(plain), tl = strlen(tls_scheme);

	memset(ep, 0, sizeof(*ep));
	sep = strstr(url, "://");
	if (sep) {
		size_t sl = (size_t)(sep - url);

		if (sl == tl && strncasecmp(url, tls_scheme, tl) == 0) {
			ep->tls = true;
		} else if (sl == pl && strncasecmp(url, plain, pl) == 0) {
			ep->tls = false;
		} else {
			return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': the "
			    "scheme must be %s:// or %s://", what, url,
			    tls_scheme, plain);
		}
		p = sep + 3;
	} else if (!bare_ok) {
		return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': give a URL "
		    "such as %s://host:port", what, url, tls_scheme);
	} else {
		ep->tls = true;
	}
	ep->port = ep->tls ? 443 : 80;
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (!he)
			return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': '[' "
			    "without ']'", what, url);
		p = he + 1;
	} else {
		hs = p;
		while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '@')
			p++;
		he = p;
	}
	if (*p == '@')
		return ist_err_set(e, IST_ERR_CONFIG, "%s: user name or "
		    "password in the URL is not supported", what);
	if (he == hs || (size_t)(he - hs) >= sizeof(ep->host))
		return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': no host, or "
		    "host too long", what, url);
	for (const char *c = hs; c < he; c++)
		if (!valid_host_char((unsigned char)*c))
			return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': bad "
			    "character in the host", what, url);
	memcpy(ep->host, hs, (size_t)(he - hs));
	if (*p == ':') {
		char *end;
		long v;

		port = ++p;
		errno = 0;
		v = strtol(port, &end, 10);
		if (end == port || errno || v < 1 || v > 65535 ||
		    (*end && *end != '/'))
			return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': the "
			    "port must be 1 to 65535", what, url);
		ep->port = (int)v;
		p = end;
	}
	if (*p == '?')
		return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': no query "
		    "string allowed", what, url);
	if (*p == '/') {
		size_t n = strlen(p);

		while (n > 0 && p[n - 1] == '/')
			n--;
		if (n >= sizeof(ep->path) || memchr(p, '?', n) ||
		    memchr(p, '#', n))
			return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': bad "
			    "path", what, url);
		memcpy(ep->path, p, n);
	} else if (*p) {
		return ist_err_set(e, IST_ERR_CONFIG, "%s '%s': unexpected "
		    "'%c'", what, url, *p);
	}
	return 0;
}

static const char *
dns_suffix(const char *region)
{
	return strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" :
	    "amazonaws.com";
}

static int
resolve_api(struct ist_aws *a, const struct ist_aws_opts *o,
    const struct aws_profile *p, struct ist_err *e)
{
	const char *v = o->api_endpoint, *what = "api_endpoint option";
	struct ist_endpoint ep;
	struct dstr d;
	bool fips;
	int r;

	if (!v || !*v) {
		v = aws_getenv("AWS_ENDPOINT_URL_IOTSECURETUNNELING");
		what = "AWS_ENDPOINT_URL_IOTSECURETUNNELING";
	}
	if (!v) {
		v = aws_getenv("AWS_ENDPOINT_URL");
		what = "AWS_ENDPOINT_URL";
	}
	dstr_init(&d, 4096);
	if (v && strlen(v) > AWS_URL_MAX)
		return ist_err_set(e, IST_ERR_CONFIG, "%s is over %d bytes: "
		    "check it", what, AWS_URL_MAX);
	if (v) {
		r = aws_parse_url(v, "http", "https", false, what, &ep, e);
		if (r < 0)
			return r;
		dstr_addf(&d, "%s://%s%s%s", ep.tls ? "https" : "http",
		    strchr(ep.host, ':') ? "[" : "", ep.host,
		    strchr(ep.host, ':') ? "]" : "");
		if (ep.port != (ep.tls ? 443 : 80))
			dstr_addf(&d, ":%d", ep.port);
		dstr_add(&d, ep.path);
	} else {
		const char *f = aws_getenv("AWS_USE_FIPS_ENDPOINT");

		fips = f ? aws_is_true(f) :
		    aws_is_true(aws_profile_get(p, "use_fips_endpoint"));
		memset(&ep, 0, sizeof(ep));
		snprintf(ep.host, sizeof(ep.host), "api.tunneling.iot%s.%s.%s",
		    fips ? "-fips" : "", a->region, dns_suffix(a->region));
		ep.port = 443;
		ep.tls = true;
		dstr_addf(&d, "https://%s", ep.host);
	}
	a->api = ep;
	a->api_endpoint = dstr_take(&d);
	if (!a->api_endpoint)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	return 0;
}

/* "http://user:pw@host:port/" -> "user:pw@host:port". */
static int
resolve_proxy(struct ist_aws *a, struct ist_err *e)
{
	const char *v = aws_getenv("https_proxy");
	const char *np = aws_getenv("no_proxy");
	const char *name = "https_proxy", *sep, *host;
	struct dstr d;
	size_t n;
	bool tls = false;

	if (!v) {
		v = aws_getenv("HTTPS_PROXY");
		name = "HTTPS_PROXY";
	}
	if (!np)
		np = aws_getenv("NO_PROXY");
	if (np && strlen(np) > 65536)
		return ist_err_set(e, IST_ERR_CONFIG, "NO_PROXY is over 65536 "
		    "bytes: check it");
	if (np && !(a->no_proxy = strdup(np)))
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	if (!v)
		return 0;
	if (strlen(v) > AWS_URL_MAX)
		return ist_err_set(e, IST_ERR_CONFIG, "%s is over %d bytes: "
		    "check it", name, AWS_URL_MAX);
	sep = strstr(v, "://");
	if (sep) {
		if (strncasecmp(v, "https://", 8) == 0) {
			tls = true;
		} else if (strncasecmp(v, "http://", 7) != 0) {
			return ist_err_set(e, IST_ERR_CONFIG, "%s: only http:// "
			    "proxies are supported", name);
		}
		v = sep + 3;
	}
	n = strcspn(v, "/?#");
	if (n == 0)
		return ist_err_set(e, IST_ERR_CONFIG, "%s: no proxy host", name);
	dstr_init(&d, 4096);
	dstr_addn(&d, v, n);
	/* After any userinfo, the host must carry a port; add the default. */
	host = v;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '@')
			host = v + i + 1;
	{
		size_t hl = n - (size_t)(host - v);
		const char *close = memchr(host, ']', hl);
		const char *from = close ? close : host;

		if (!memchr(from, ':', hl - (size_t)(from - host)))
			dstr_add(&d, tls ? ":443" : ":80");
	}
	a->proxy = dstr_take(&d);
	if (!a->proxy)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	return 0;
}

static bool
no_proxy_match(const char *list, const char *host)
{
	size_t hl = strlen(host);
	const char *p = list;

	while (*p) {
		const char *end = p + strcspn(p, ",");
		const char *s = p, *t = end;
		size_t n;

		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		/* "host:port": we match on the host. */
		if (t > s && s[0] != '[') {
			const char *c = memchr(s, ':', (size_t)(t - s));

			if (c && !memchr(c + 1, ':', (size_t)(t - c - 1)))
				t = c;
		}
		if (t > s && *s == '.')
			s++;
		n = (size_t)(t - s);
		if (n == 1 && *s == '*')
			return true;
		if (n > 0 && n <= hl && strncasecmp(host + hl - n, s, n) == 0 &&
		    (n == hl || host[hl - n - 1] == '.'))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

const char *
ist_aws_proxy_for(const struct ist_aws *a, const char *host)
{
	if (!a || !a->proxy || !host)
		return NULL;
	if (a->no_proxy && no_proxy_match(a->no_proxy, host))
		return NULL;
	return a->proxy;
}

int
aws_max_attempts(const struct aws_profile *p, int *out, struct ist_err *e)
{
	const char *v = aws_getenv("AWS_MAX_ATTEMPTS"), *what =
	    "AWS_MAX_ATTEMPTS";
	const char *mode = aws_getenv("AWS_RETRY_MODE");
	char *end;
	long n;

	if (!mode)
		mode = aws_profile_get(p, "retry_mode");
	*out = mode && strcasecmp(mode, "legacy") == 0 ? 5 : 3;
	if (!v) {
		v = aws_profile_get(p, "max_attempts");
		what = "the profile's max_attempts";
	}
	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > 10)
		return ist_err_set(e, IST_ERR_CONFIG, "%s = %.20s: give a "
		    "number of attempts from 1 to 10", what, v);
	*out = (int)n;
	return 0;
}

static int
set_str(char **dst, const char *v, struct ist_err *e)
{
	if (!v)
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : ist_err_set(e, IST_ERR_NOMEM, "out of memory");
}

int
ist_aws_new(struct ist_aws **out, const struct ist_aws_opts *opts,
    struct ist_err *e)
{
	static const struct ist_aws_opts none;
	const struct ist_aws_opts *o = opts ? opts : &none;
	struct aws_profile p;
	struct ist_aws *a;
	struct ist_endpoint ep;
	const char *v, *what, *ca_what;
	bool have_profile = false;
	int r;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	r = aws_profile_load(&p, o->profile, e);
	if (r < 0)
		goto out;
	have_profile = true;
	a->profile_opt = p.explicit_opt;
	if ((r = set_str(&a->profile, p.name, e)) < 0)
		goto out;

	/* Region. */
	v = o->region && *o->region ? o->region : NULL;
	what = "the region option";
	if (!v) {
		v = aws_getenv("AWS_REGION");
		what = "AWS_REGION";
	}
	if (!v) {
		v = aws_getenv("AWS_DEFAULT_REGION");
		what = "AWS_DEFAULT_REGION";
	}
	if (!v) {
		v = aws_profile_get(&p, "region");
		what = "the profile's region";
	}
	if (!v || !*v) {
		r = ist_err_set(e, IST_ERR_CONFIG, "no AWS region: use "
		    "--region, set AWS_REGION, or set region in profile "
		    "%s of %s", p.name, p.config_path);
		goto out;
	}
	if (!valid_region(v)) {
		r = ist_err_set(e, IST_ERR_CONFIG, "AWS region '%.64s' from %s "
		    "is not a region name such as us-east-1", v, what);
		goto out;
	}
	if ((r = set_str(&a->region, v, e)) < 0)
		goto out;

	if ((r = resolve_api(a, o, &p, e)) < 0)
		goto out;
	if ((r = aws_max_attempts(&p, &a->max_attempts, e)) < 0)
		goto out;

	/* The data-plane override is checked now, used per call. */
	v = o->proxy_endpoint && *o->proxy_endpoint ? o->proxy_endpoint :
	    aws_getenv("AWSIOT_TUNNEL_ENDPOINT");
	if (v) {
		r = aws_parse_url(v, "ws", "wss", true, o->proxy_endpoint &&
		    *o->proxy_endpoint ? "proxy_endpoint option" :
		    "AWSIOT_TUNNEL_ENDPOINT", &ep, e);
		if (r < 0 || (r = set_str(&a->data_override, v, e)) < 0)
			goto out;
	}

	v = o->ca_file && *o->ca_file ? o->ca_file :
	    aws_getenv("AWS_CA_BUNDLE");
	ca_what = o->ca_file && *o->ca_file ? "the ca_file option" :
	    "AWS_CA_BUNDLE";
	if (!v) {
		v = aws_profile_get(&p, "ca_bundle");
		ca_what = "the profile's ca_bundle";
	}
	if (v && access(v, R_OK) != 0) {
		r = ist_err_set(e, IST_ERR_CONFIG, "CA file %s (from %s): %s",
		    v, ca_what, strerror(errno));
		goto out;
	}
	if ((r = set_str(&a->ca_file, v, e)) < 0)
		goto out;
	if ((r = resolve_proxy(a, e)) < 0)
		goto out;
	ist_debug("AWS: profile %s, region %s (from %s), API %s", a->profile,
	    a->region, what, a->api_endpoint);
	*out = a;
	a = NULL;
	r = 0;
out:
	if (have_profile)
		aws_profile_free(&p);
	ist_aws_free(a);
	return r;
}

void
ist_aws_free(struct ist_aws *a)
{
	if (!a)
		return;
	free(a->profile);
	free(a->region);
	free(a->api_endpoint);
	free(a->data_override);
	free(a->ca_file);
	aws_free_secret(a->proxy); /* may hold a proxy password */
	free(a->no_proxy);
	ist_creds_clear(&a->creds);
	free(a);
}

const char *
ist_aws_region(const struct ist_aws *a)
{
	return a->region;
}

const char *
ist_aws_profile(const struct ist_aws *a)
{
	return a->profile;
}

const char *
ist_aws_api_endpoint(const struct ist_aws *a)
{
	return a->api_endpoint;
}

const struct ist_endpoint *
aws_api_ep(const struct ist_aws *a)
{
	return &a->api;
}

const char *
ist_aws_ca_file(const struct ist_aws *a)
{
	return a->ca_file;
}

int
ist_aws_data_endpoint(const struct ist_aws *a, const char *region,
    struct ist_endpoint *out, struct ist_err *e)
{
	int n;

	if (a->data_override)
		return aws_parse_url(a->data_override, "ws", "wss", true,
		    "data-plane endpoint", out, e);
	if (!region)
		region = a->region;
	if (!valid_region(region))
		return ist_err_set(e, IST_ERR_CONFIG, "region '%.64s' is not a "
		    "region name such as us-east-1", region);
	memset(out, 0, sizeof(*out));
	n = snprintf(out->host, sizeof(out->host),
	    "data.tunneling.iot.%s.%s", region, dns_suffix(region));
	if (n < 0 || (size_t)n >= sizeof(out->host))
		return ist_err_set(e, IST_ERR_CONFIG, "region too long");
	out->port = 443;
	out->tls = true;
	return 0;
}
