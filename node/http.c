#include "node/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

struct doc {
	char *p;
	size_t len;
};

struct node_http {
	nng_http_server *srv;
	pthread_mutex_t mu;
	struct doc metrics, status;
};

static void serve(nng_aio *aio, int which)
{
	nng_http_handler *hd = nng_aio_get_input(aio, 1);
	struct node_http *h = nng_http_handler_get_data(hd);
	struct doc *d;
	nng_http_res *res;
	int rv;

	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->mu);
	d = which == 0 ? &h->metrics : &h->status;
	rv = nng_http_res_copy_data(res, d->p ? d->p : "", d->len);
	pthread_mutex_unlock(&h->mu);
	if (rv == 0)
		rv = nng_http_res_set_header(res, "Content-Type",
					     which == 0 ? "text/plain; version=0.0.4"
							: "application/json");
	if (rv != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void serve_metrics(nng_aio *aio)
{
	serve(aio, 0);
}

static void serve_status(nng_aio *aio)
{
	serve(aio, 1);
}

int node_http_start(struct node_http **out, const char *hostport, char *err, size_t errlen)
{
	struct node_http *h = calloc(1, sizeof(*h));
	nng_http_handler *hm = NULL, *hs = NULL;
	nng_url *url = NULL;
	char u[300];
	int rv;

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&h->mu, NULL);
	snprintf(u, sizeof(u), "http://%s", hostport);
	rv = nng_url_parse(&url, u);
	if (rv == 0)
		rv = nng_http_server_hold(&h->srv, url);
	if (rv == 0)
		rv = nng_http_handler_alloc(&hm, "/metrics", serve_metrics);
	if (rv == 0)
		rv = nng_http_handler_set_data(hm, h, NULL);
	if (rv == 0)
		rv = nng_http_server_add_handler(h->srv, hm);
	if (rv == 0) {
		hm = NULL;
		rv = nng_http_handler_alloc(&hs, "/status", serve_status);
	}
	if (rv == 0)
		rv = nng_http_handler_set_data(hs, h, NULL);
	if (rv == 0)
		rv = nng_http_server_add_handler(h->srv, hs);
	if (rv == 0) {
		hs = NULL;
		rv = nng_http_server_start(h->srv);
	}
	if (url != NULL)
		nng_url_free(url);
	if (rv != 0) {
		snprintf(err, errlen, "status endpoint %s: %s", hostport, nng_strerror(rv));
		if (hm != NULL)
			nng_http_handler_free(hm);
		if (hs != NULL)
			nng_http_handler_free(hs);
		if (h->srv != NULL)
			nng_http_server_release(h->srv);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

static void doc_set(struct doc *d, const char *p, size_t len)
{
	char *c = malloc(len + 1);

	if (c == NULL)
		return; /* keep serving the previous document */
	memcpy(c, p, len);
	c[len] = '\0';
	free(d->p);
	d->p = c;
	d->len = len;
}

void node_http_publish(struct node_http *h, const char *metrics, size_t metrics_len,
		       const char *status, size_t status_len)
{
	pthread_mutex_lock(&h->mu);
	doc_set(&h->metrics, metrics, metrics_len);
	doc_set(&h->status, status, status_len);
	pthread_mutex_unlock(&h->mu);
}

void node_http_stop(struct node_http *h)
{
	if (h == NULL)
		return;
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv);
	pthread_mutex_destroy(&h->mu);
	free(h->metrics.p);
	free(h->status.p);
	free(h);
}
