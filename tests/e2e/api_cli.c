/*
 * api_cli.c: ist-api-test, a thin command line over libist's API client
 * for tests/e2e/api.sh. Configuration comes from the environment as in
 * the programs (AWS_ENDPOINT_URL, AWS_CA_BUNDLE, credentials, region).
 *
 *   ist-api-test [-v...] open REQUEST.json TOKENS.json
 *   ist-api-test [-v...] describe ID
 *   ist-api-test [-v...] close ID [delete]
 *   ist-api-test [-v...] rotate ID MODE TOKENS.json [DESTCONFIG.json]
 *   ist-api-test [-v...] list [THING [MAX [NEXT]]]
 *
 * Tokens only ever go to the TOKENS file (mode 0600), never to stdout.
 * Exit status: 0, or the negated IST_ERR_* code, with "error: <msg>" on
 * stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ist/api.h"

static cJSON *
read_json(const char *path, struct ist_err *e)
{
	char buf[65536];
	size_t n;
	FILE *fp = fopen(path, "r");
	cJSON *j;

	if (!fp) {
		ist_err_set(e, IST_ERR_IO, "%s: cannot open", path);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	j = cJSON_Parse(buf);
	if (!j)
		ist_err_set(e, IST_ERR_INVAL, "%s: not JSON", path);
	return j;
}

static int
write_tokens(const char *path, const struct ist_tunnel_tokens *t,
    struct ist_err *e)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	int fd = -1, r = IST_ERR_NOMEM;

	if (!o)
		return ist_err_set(e, r, "out of memory");
	if (t->tunnel_id)
		cJSON_AddStringToObject(o, "tunnelId", t->tunnel_id);
	if (t->tunnel_arn)
		cJSON_AddStringToObject(o, "tunnelArn", t->tunnel_arn);
	if (t->source_access_token)
		cJSON_AddStringToObject(o, "sourceAccessToken",
		    t->source_access_token);
	if (t->destination_access_token)
		cJSON_AddStringToObject(o, "destinationAccessToken",
		    t->destination_access_token);
	s = cJSON_PrintUnformatted(o);
	if (!s) {
		r = ist_err_set(e, r, "out of memory");
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		r = ist_err_set(e, IST_ERR_IO, "%s: cannot write", path);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	cJSON_Delete(o);
	return r;
}

static int
print_json(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (!s)
		return IST_ERR_NOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

int
main(int argc, char **argv)
{
	struct ist_log_sink sink = { .prog = "ist-api-test", .fp = NULL };
	struct ist_tunnel_tokens t = { 0 };
	struct ist_aws *a = NULL;
	struct ist_err e;
	cJSON *j = NULL, *out = NULL;
	const char *cmd;
	int level = IST_LOG_ERROR, i = 1, r;

	ist_err_clear(&e);
	while (i < argc && strncmp(argv[i], "-v", 2) == 0)
		level += (int)strlen(argv[i++]) - 1;
	ist_log_set_hook(ist_log_sink_hook, &sink);
	ist_log_set_level(level);
	if (i >= argc) {
		fprintf(stderr, "usage: ist-api-test [-v] open|describe|close|"
		    "rotate|list ...\n");
		return 2;
	}
	cmd = argv[i++];
	r = ist_aws_new(&a, NULL, &e);
	if (r < 0)
		goto out;
	if (strcmp(cmd, "open") == 0 && i + 2 == argc) {
		j = read_json(argv[i], &e);
		r = j ? ist_api_open_tunnel(a, j, &t, &e) : e.code;
		if (r == 0)
			r = write_tokens(argv[i + 1], &t, &e);
		if (r == 0)
			printf("%s\n", t.tunnel_id);
	} else if (strcmp(cmd, "describe") == 0 && i + 1 == argc) {
		r = ist_api_describe_tunnel(a, argv[i], &out, &e);
		if (r == 0)
			r = print_json(out);
	} else if (strcmp(cmd, "close") == 0 && (i + 1 == argc ||
	    (i + 2 == argc && strcmp(argv[i + 1], "delete") == 0))) {
		r = ist_api_close_tunnel(a, argv[i], i + 2 == argc, &e);
	} else if (strcmp(cmd, "rotate") == 0 && (i + 3 == argc ||
	    i + 4 == argc)) {
		if (i + 4 == argc) {
			j = read_json(argv[i + 3], &e);
			if (!j) {
				r = e.code;
				goto out;
			}
		}
		r = ist_api_rotate_tunnel_access_token(a, argv[i], argv[i + 1],
		    j, &t, &e);
		if (r == 0)
			r = write_tokens(argv[i + 2], &t, &e);
	} else if (strcmp(cmd, "list") == 0 && argc - i <= 3) {
		r = ist_api_list_tunnels(a, i < argc ? argv[i] : NULL,
		    i + 1 < argc ? (int)strtol(argv[i + 1], NULL, 10) : 0,
		    i + 2 < argc ? argv[i + 2] : NULL, &out, &e);
		if (r == 0)
			r = print_json(out);
	} else {
		fprintf(stderr, "ist-api-test: bad command line\n");
		r = 2;
		goto out;
	}
out:
	if (r < 0)
		fprintf(stderr, "error: %s\n", e.msg);
	ist_tunnel_tokens_clear(&t);
	cJSON_Delete(j);
	cJSON_Delete(out);
	ist_aws_free(a);
	return r < 0 ? -r : r;
}
