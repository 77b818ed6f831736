/*
 * http: the replica's status endpoint (nng's HTTP server): GET /metrics (Prometheus text format)
 * and GET /status (JSON).
 *
 * The event loop owns all state and is single-threaded; nng serves HTTP from its own threads.
 * So the loop publishes rendered documents (node_http_publish, a few times a second) and the
 * handlers only copy the latest ones under a mutex: no handler ever touches protocol state.
 */
#ifndef NODE_HTTP_H
#define NODE_HTTP_H

#include <stddef.h>

struct node_http;

/** Starts serving on host:port. 0, or -1 with a message in err. */
int node_http_start(struct node_http **out, const char *hostport, char *err, size_t errlen);

/** Replaces the documents served at /metrics and /status (copied). */
void node_http_publish(struct node_http *h, const char *metrics, size_t metrics_len,
		       const char *status, size_t status_len);

/** Stops the server and frees everything; safe on NULL. */
void node_http_stop(struct node_http *h);

#endif
