/*
 * sim_hb.h: Honey Badger BFT as a simulator engine (sim_hb.c). Kept beside sim.h rather than in
 * it, so that the simulator's own header does not change for the second engine.
 */
#ifndef SIM_HB_H
#define SIM_HB_H

#include "bft/hb.h"
#include "bft/sim/sim.h"

/** Honey Badger (bft/hb.h) as a simulator engine: clients send to all replicas. */
extern const struct sim_engine_ops sim_engine_hb;

/** The struct hb inside an engine that sim_engine_hb created (for status and tests). */
struct hb *sim_hb_engine(void *engine);

/** Whether engines created from now on share the process's verification memo (default true;
 *  false also frees it). */
void sim_hb_set_memo(bool on);

/** Whether engines created from now on use ABA's fixed-coin schedule (aba.h; default true) or
 *  the threshold coin in every round (the sweeps of coin behaviours). */
void sim_hb_set_fixed_coins(bool on);

/** The coin key set the binding dealt to an engine of sim_engine_hb (public half). */
const struct cr_thresh_pubkey *sim_hb_coin_pk(void *engine);

#endif
