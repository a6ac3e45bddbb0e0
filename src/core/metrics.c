/*
 * metrics.c — see metrics.h. A fixed table, linear search by pointer first
 * (routes are static strings, so the pointer usually matches) then by name.
 */
#include "core/metrics.h"

#include <string.h>

#define MAX_STATUS 16
#define NBUCKETS   14

static const double bucket_le[NBUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5};

typedef struct route_stats {
	const char *route;
	const char *method;
	struct {
		int status;
		uint64_t count;
	} statuses[MAX_STATUS];
	uint64_t buckets[NBUCKETS];
	uint64_t count;
	double sum_s;
} route_stats;

static route_stats routes[HMETRICS_MAX_ROUTES];
static int route_count;

static route_stats *find(const char *route, const char *method)
{
	for (int i = 0; i < route_count; i++)
		if ((routes[i].route == route || strcmp(routes[i].route, route) == 0) &&
		    strcmp(routes[i].method, method) == 0)
			return &routes[i];
	if (route_count == HMETRICS_MAX_ROUTES)
		return NULL;
	route_stats *r = &routes[route_count++];
	memset(r, 0, sizeof *r);
	r->route = route;
	r->method = method;
	return r;
}

void hmetrics_request(const char *route, const char *method, int status, uint64_t duration_ns)
{
	static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	const char *m = "OTHER";
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (method && strcmp(method, known[i]) == 0)
			m = known[i];
	route_stats *r = find(route ? route : "unmatched", m);
	if (!r)
		return;
	int i = 0;
	while (i < MAX_STATUS && r->statuses[i].status && r->statuses[i].status != status)
		i++;
	if (i < MAX_STATUS) {
		r->statuses[i].status = status;
		r->statuses[i].count++;
	}
	double s = (double)duration_ns / 1e9;
	int b = 0;
	while (b < NBUCKETS - 1 && s > bucket_le[b])
		b++;
	r->buckets[b]++;
	r->count++;
	r->sum_s += s;
}

int hmetrics_render_http(hbuf *out)
{
	int rc = hbuf_puts(out, "# HELP herald_http_requests_total HTTP requests by route, method and status.\n"
	                        "# TYPE herald_http_requests_total counter\n");
	for (int i = 0; i < route_count; i++)
		for (int j = 0; j < MAX_STATUS && routes[i].statuses[j].status; j++)
			rc |= hbuf_printf(out,
			                  "herald_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
			                  routes[i].route, routes[i].method, routes[i].statuses[j].status,
			                  (unsigned long long)routes[i].statuses[j].count);
	rc |= hbuf_puts(out, "# HELP herald_http_request_duration_seconds Time from first byte to response.\n"
	                     "# TYPE herald_http_request_duration_seconds histogram\n");
	for (int i = 0; i < route_count; i++) {
		uint64_t cum = 0;
		for (int b = 0; b < NBUCKETS; b++) {
			cum += routes[i].buckets[b];
			if (b < NBUCKETS - 1)
				rc |= hbuf_printf(
				        out,
				        "herald_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
				        "le=\"%g\"} %llu\n",
				        routes[i].route, routes[i].method, bucket_le[b], (unsigned long long)cum);
			else
				rc |= hbuf_printf(
				        out,
				        "herald_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
				        "le=\"+Inf\"} %llu\n",
				        routes[i].route, routes[i].method, (unsigned long long)cum);
		}
		rc |= hbuf_printf(out, "herald_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n",
		                  routes[i].route, routes[i].method, routes[i].sum_s);
		rc |= hbuf_printf(out, "herald_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
		                  routes[i].route, routes[i].method, (unsigned long long)routes[i].count);
	}
	return rc ? -1 : 0;
}

int hmetrics_gauge(hbuf *out, const char *name, const char *help, double value)
{
	return hbuf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, value);
}

int hmetrics_counter(hbuf *out, const char *name, const char *help, double value)
{
	return hbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %.17g\n", name, help, name, name, value);
}
