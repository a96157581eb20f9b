/*
 * http.c: protocols[0] of the emulator. Receives API requests (POST /),
 * admin requests (POST /admin/..., loopback only, with --admin) and the
 * WebSocket upgrade checks (HTTP_CONFIRM_UPGRADE), LWS-NOTES section 3.
 *
 * Headers are copied in LWS_CALLBACK_HTTP: the header table is not kept
 * until the body is complete. One request at a time per connection
 * (HTTP/1.1 keep-alive), so the per-session data is the request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

#define MAX_SIGNED 24

struct hreq {
	struct lws *wsi;
	struct emu *emu;
	bool admin;
	bool answered_early;
	char *path;
	char *query;
	char *target, *auth, *amz_date, *sec_token;
	char *method;
	const char *ctype; /* the answer's Content-Type (static) */
	char *hname[MAX_SIGNED], *hval[MAX_SIGNED];
	size_t n_hdrs;
	uint8_t *body;
	size_t body_len, body_cap;
	bool too_big;
	/* answer */
	int status;
	char *resp;
	char request_id[37];
	bool ready, hdrs_sent;
	lws_sorted_usec_list_t delay_sul;
};

static void
req_reset(struct hreq *q)
{
	size_t i;

	lws_sul_cancel(&q->delay_sul);
	free(q->path);
	free(q->query);
	free(q->target);
	free(q->auth);
	free(q->amz_date);
	free(q->sec_token);
	free(q->method);
	for (i = 0; i < q->n_hdrs; i++) {
		free(q->hname[i]);
		free(q->hval[i]);
	}
	free(q->body);
	free(q->resp);
	memset(q, 0, sizeof(*q));
}

/* A copy of header h (known token or, failing that, custom), or NULL. */
static char *
hdr_dup(struct lws *wsi, const char *lname)
{
	char name[128];
	char *v;
	int i, n;

	n = snprintf(name, sizeof(name), "%s:", lname);
	if (n < 0 || (size_t)n >= sizeof(name))
		return NULL;
	for (i = 0; i < WSI_TOKEN_COUNT; i++) {
		const unsigned char *tn =
		    lws_token_to_string((enum lws_token_indexes)i);

		if (tn && !strcmp((const char *)tn, name)) {
			n = lws_hdr_total_length(wsi,
			    (enum lws_token_indexes)i);
			if (n <= 0)
				return NULL;
			v = malloc((size_t)n + 1);
			if (!v)
				return NULL;
			if (lws_hdr_copy(wsi, v, n + 1,
			    (enum lws_token_indexes)i) < 0) {
				free(v);
				return NULL;
			}
			return v;
		}
	}
	n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
	if (n < 0)
		return NULL;
	v = malloc((size_t)n + 1);
	if (!v)
		return NULL;
	if (lws_hdr_custom_copy(wsi, v, n + 1, name, (int)strlen(name)) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

/* The SignedHeaders list of an Authorization value, copied, or NULL. */
static char *
signed_list(const char *auth)
{
	const char *p = auth ? strstr(auth, "SignedHeaders=") : NULL;
	size_t n;

	if (!p)
		return NULL;
	p += strlen("SignedHeaders=");
	n = strcspn(p, ", ");
	return strndup(p, n);
}

static void
copy_headers(struct hreq *q, struct lws *wsi)
{
	char *list, *s;

	q->target = hdr_dup(wsi, "x-amz-target");
	q->auth = hdr_dup(wsi, "authorization");
	q->amz_date = hdr_dup(wsi, "x-amz-date");
	q->sec_token = hdr_dup(wsi, "x-amz-security-token");
	list = signed_list(q->auth);
	for (s = list; s && *s && q->n_hdrs < MAX_SIGNED;) {
		size_t n = strcspn(s, ";");
		char *name = strndup(s, n);
		char *v = name ? hdr_dup(wsi, name) : NULL;

		if (v) {
			q->hname[q->n_hdrs] = name;
			q->hval[q->n_hdrs] = v;
			q->n_hdrs++;
		} else {
			free(name);
		}
		s += n;
		if (*s == ';')
			s++;
	}
	free(list);
	/* Unsigned ones the AWS protocols need (STS, the SSO portal). */
	{
		static const char *const extra[] = { "content-type",
			"x-amz-sso_bearer_token" };

		for (size_t k = 0; k < 2 && q->n_hdrs < MAX_SIGNED; k++) {
			bool have = false;
			char *v;

			for (size_t j = 0; j < q->n_hdrs; j++)
				have |= !strcmp(q->hname[j], extra[k]);
			if (have || !(v = hdr_dup(wsi, extra[k])))
				continue;
			q->hname[q->n_hdrs] = strdup(extra[k]);
			if (!q->hname[q->n_hdrs]) {
				free(v);
				continue;
			}
			q->hval[q->n_hdrs++] = v;
		}
	}
}

static void
on_delay(lws_sorted_usec_list_t *sul)
{
	struct hreq *q = lws_container_of(sul, struct hreq, delay_sul);

	q->ready = true;
	lws_callback_on_writable(q->wsi);
}

/* Computes the answer and arranges for it to be written. */
static void
answer(struct hreq *q)
{
	struct emu *emu = q->emu;
	struct emu_faults *f = &emu->faults;

	emu_uuid(q->request_id);
	if (q->admin) {
		emu_admin_handle(emu, q->path, q->body, q->body_len,
		    &q->status, &q->resp);
	} else if (q->too_big) {
		q->status = 413;
		q->resp = emu_api_error("SerializationException",
		    "Request body over %u bytes", EMU_MAX_REQ_BODY);
	} else {
		struct ist_header h[MAX_SIGNED];
		struct emu_req r;
		size_t i;

		for (i = 0; i < q->n_hdrs; i++) {
			h[i].name = q->hname[i];
			h[i].value = q->hval[i];
		}
		memset(&r, 0, sizeof(r));
		r.target = q->target;
		r.auth = q->auth;
		r.amz_date = q->amz_date;
		r.sec_token = q->sec_token;
		r.headers = h;
		r.n_headers = q->n_hdrs;
		r.method = q->method ? q->method : "POST";
		r.path = q->path;
		r.query = q->query ? q->query : "";
		r.body = q->body;
		r.body_len = q->body_len;
		q->ctype = "application/x-amz-json-1.1";
		emu_api_handle(emu, &r, &q->status, &q->resp, &q->ctype);
	}
	if (!q->resp) {
		q->status = 500;
		q->resp = strdup("{\"__type\":\"InternalFailure\"}");
	}
	if (!q->admin && f->delay_count != 0 &&
	    emu_fault_applies(f->delay_op, q->target)) {
		if (f->delay_count > 0)
			f->delay_count--;
		ist_verbose("fault: answering in %d ms", f->delay_ms);
		lws_sul_schedule(lws_get_context(q->wsi), 0, &q->delay_sul,
		    on_delay, (lws_usec_t)f->delay_ms * LWS_US_PER_MS);
		return;
	}
	q->ready = true;
	lws_callback_on_writable(q->wsi);
}

static int
write_answer(struct hreq *q, struct lws *wsi)
{
	uint8_t buf[LWS_PRE + 1024];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
	size_t len = q->resp ? strlen(q->resp) : 0;
	uint8_t *body;
	int n;

	if (!q->hdrs_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned int)q->status,
		    q->ctype ? q->ctype : "application/x-amz-json-1.1", len,
		    &p, end) ||
		    lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"x-amzn-requestid:",
		    (const unsigned char *)q->request_id,
		    (int)strlen(q->request_id), &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		q->hdrs_sent = true;
		lws_callback_on_writable(wsi);
		return 0;
	}
	body = malloc(LWS_PRE + len + 1);
	if (!body)
		return -1;
	memcpy(body + LWS_PRE, q->resp, len);
	n = lws_write(wsi, body + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(body);
	if (n < (int)len)
		return -1;
	req_reset(q);
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int
on_http(struct hreq *q, struct lws *wsi, const char *uri)
{
	struct emu *emu = lws_context_user(lws_get_context(wsi));
	char args[1024];
	int n;

	req_reset(q);
	q->wsi = wsi;
	q->emu = emu;
	q->path = strdup(uri ? uri : "/");
	if (!q->path)
		return -1;
	/* The API needs no query string; keep one for the signature. */
	/* lws keeps each argument as a fragment: join them with '&'. */
	{
		size_t ql = 0;
		int f;

		for (f = 0; f < 32; f++) {
			n = lws_hdr_copy_fragment(wsi, args + ql,
			    (int)(sizeof(args) - ql), WSI_TOKEN_HTTP_URI_ARGS, f);
			if (n <= 0)
				break;
			ql += (size_t)n;
			if (ql + 2 >= sizeof(args))
				break;
			args[ql++] = '&';
		}
		if (ql > 0)
			q->query = strndup(args, ql - 1);
	}
	q->admin = !strncmp(q->path, "/admin/", 7);
	if (q->admin && (!emu->admin || !emu_is_loopback(wsi))) {
		/* Not an admin endpoint then: answer as for any path. */
		q->admin = false;
		free(q->path);
		q->path = strdup("/not-found");
		if (!q->path)
			return -1;
	}
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)) {
		/* GET (the SSO portal) and others: no body to wait for. */
		q->method = strdup(lws_hdr_total_length(wsi,
		    WSI_TOKEN_GET_URI) ? "GET" : "OTHER");
		if (!q->method)
			return -1;
		copy_headers(q, wsi);
		answer(q);
		q->answered_early = true;
		return 0;
	}
	copy_headers(q, wsi);
	n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (n <= 0) {
		answer(q);
		q->answered_early = true;
	} else {
		char cl[32];

		if (lws_hdr_copy(wsi, cl, sizeof(cl),
		    WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && !strcmp(cl, "0")) {
			answer(q);
			q->answered_early = true;
		}
	}
	return 0;
}

static int
on_body(struct hreq *q, const void *in, size_t len)
{
	uint8_t *nb;
	size_t want;

	if (q->too_big || q->answered_early)
		return 0;
	if (q->body_len + len > EMU_MAX_REQ_BODY) {
		q->too_big = true;
		return 0;
	}
	want = q->body_len + len + 1;
	if (want > q->body_cap) {
		size_t cap = q->body_cap ? q->body_cap * 2 : 4096;

		while (cap < want)
			cap *= 2;
		nb = realloc(q->body, cap);
		if (!nb)
			return -1;
		q->body = nb;
		q->body_cap = cap;
	}
	memcpy(q->body + q->body_len, in, len);
	q->body_len += len;
	q->body[q->body_len] = '\0';
	return 0;
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct hreq *q = user;
	struct emu *emu;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(q, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(q, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!q->answered_early)
			answer(q);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!q || !q->ready)
			return 0;
		return write_answer(q, wsi);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		emu = lws_context_user(lws_get_context(wsi));
		return emu_relay_confirm_upgrade(emu, wsi);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (q)
			req_reset(q);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols emu_http_protocol = {
	.name = "iot-tunnel-emulator-http",
	.callback = http_cb,
	.per_session_data_size = sizeof(struct hreq),
	.rx_buffer_size = 0,
};
