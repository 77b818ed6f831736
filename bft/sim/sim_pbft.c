/*
 * sim_pbft: PBFT (bft/pbft.h) behind the simulator's engine vtable.
 */
#include "bft/sim/sim.h"

#include "bft/pbft.h"

static enum bft_err pbft_sim_create(void **engine, const struct sim_node_config *nc)
{
	struct pbft_config pc;
	struct pbft *p = NULL;
	enum bft_err e;

	pbft_config_default(&pc);
	pc.log.n = nc->n;
	pc.log.self = nc->self;
	pc.log.id = nc->id;
	pc.log.replica_pks = nc->replica_pks;
	pc.log.client_pks = nc->client_pks;
	pc.log.limits = nc->limits;
	pc.log.app = nc->app;
	/* Small K and W, so that a run of a hundred requests crosses many checkpoints, garbage
	 * collections and window edges. */
	if (nc->checkpoint_interval != 0)
		pc.log.checkpoint_interval = nc->checkpoint_interval;
	if (nc->window != 0)
		pc.log.window = nc->window;
	if (nc->batch_max_requests != 0)
		pc.log.batch_max_requests = nc->batch_max_requests;
	pc.log.batch_delay_ms = nc->batch_delay_ms;
	if (nc->view_timeout_ms != 0)
		pc.view_timeout_ms = nc->view_timeout_ms;
	pc.byz = nc->byz;
	e = pbft_new(&p, &pc);
	if (e != BFT_OK)
		return e;
	*engine = p;
	return BFT_OK;
}

static enum bft_err pbft_sim_step(void *engine, const struct bft_event *ev, struct bft_out *out)
{
	return pbft_step(engine, ev, out);
}

static void pbft_sim_status(const void *engine, struct sim_engine_status *st)
{
	struct pbft_status ps;

	pbft_status(engine, &ps);
	st->view = ps.view;
	st->view_active = ps.view_active;
	st->last_executed = ps.last_executed;
	st->low = ps.low;
	st->high = ps.high;
	st->next_seq = ps.next_seq;
	st->pending = ps.pending;
	st->view_changes = ps.view_changes;
	st->state_transfers = ps.state_transfers;
	st->behind = ps.behind;
}

static void pbft_sim_free(void *engine)
{
	pbft_free(engine);
}

static struct bft_log *pbft_sim_log(void *engine)
{
	return pbft_log(engine);
}

const struct sim_engine_ops sim_engine_pbft = {
	.name = "pbft",
	.client_send = BFT_SEND_PRIMARY,
	.create = pbft_sim_create,
	.step = pbft_sim_step,
	.status = pbft_sim_status,
	.free = pbft_sim_free,
	.log = pbft_sim_log,
};
