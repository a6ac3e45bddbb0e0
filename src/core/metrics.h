/*
 * metrics.h — request counters and latency histograms for /metrics
 * (Prometheus text format 0.0.4). Updated and rendered on the loop thread
 * only, so plain integers suffice. Routes are identified by the static name
 * strings the router hands out; at most HMETRICS_MAX_ROUTES distinct ones.
 */
#ifndef HERALD_CORE_METRICS_H
#define HERALD_CORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"

#define HMETRICS_MAX_ROUTES 64

void hmetrics_request(const char *route, const char *method, int status, uint64_t duration_ns);

/* Appends herald_http_requests_total and herald_http_request_duration_seconds. */
int hmetrics_render_http(hbuf *out);

/* Helpers for the other families the server renders. */
int hmetrics_gauge(hbuf *out, const char *name, const char *help, double value);
int hmetrics_counter(hbuf *out, const char *name, const char *help, double value);

#endif
