/*
 * sim_rng: the simulator's only source of randomness (splitmix64). libc rand() is never used:
 * its sequence differs between C libraries, and a seed must replay the same run anywhere.
 */
#include "bft/sim/sim.h"

/* The splitmix64 output function: a bijective mixer of 64 bits. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/** See sim.h. */
void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	r->s = seed;
}

/** See sim.h. */
uint64_t sim_rng_next(struct sim_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return mix64(r->s);
}

/** See sim.h. Rejection sampling: values below 2^64 mod bound would make the low residues
 *  slightly likelier, so they are drawn again. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound)
{
	uint64_t threshold, x;

	if (bound <= 1)
		return 0;
	threshold = (0 - bound) % bound;
	do
		x = sim_rng_next(r);
	while (x < threshold);
	return x % bound;
}

/** See sim.h. */
uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	if (hi - lo == UINT64_MAX)
		return sim_rng_next(r);
	return lo + sim_rng_below(r, hi - lo + 1);
}

/** See sim.h. 53 random bits make an exact double in [0, 1). */
bool sim_rng_chance(struct sim_rng *r, double p)
{
	if (p <= 0.0)
		return false;
	if (p >= 1.0)
		return true;
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53 < p;
}

/** See sim.h. */
uint64_t sim_seed_derive(uint64_t seed, uint64_t stream, uint64_t index)
{
	uint64_t x = mix64(seed + 0x632be59bd9b4e019ull);

	x = mix64(x ^ mix64(stream + 0x9e3779b97f4a7c15ull));
	return mix64(x ^ mix64(index + 0xd1b54a32d192ed03ull));
}
