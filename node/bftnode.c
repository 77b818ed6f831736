/*
 * bftnode: one replica of a Byzantine fault tolerant key-value cluster.
 * See `bftnode --help`; the event loop is node/replica.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bft/byz.h"
#include "crypto/cr_sign.h"
#include "node/nlog.h"
#include "node/replica.h"
#include "node/solo.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bftnode -c CLUSTER.INI -i ID [options]\n"
		"\n"
		"Runs replica ID of the cluster described by CLUSTER.INI (written by bftkeygen).\n"
		"\n"
		"  -c, --config FILE        the cluster file (required)\n"
		"  -i, --id ID              this replica's id, 0..n-1 (required)\n"
		"  -d, --data-dir DIR       where the write-ahead log and snapshots live\n"
		"                           (default: <config dir>/data/replica-ID)\n"
		"  -b, --byzantine MODES    run as a FAULTY replica: comma-separated modes, e.g.\n"
		"                           equivocate,bad-signature (see --list-byzantine)\n"
		"      --crash-after N      with crash-after: messages sent before falling silent\n"
		"                           (default 200)\n"
		"      --fault SPEC         inject network faults on every outgoing peer link:\n"
		"                           drop=PPM,dup=PPM,delay=MIN-MAX (ms), e.g. drop=10000\n"
		"      --solo               benchmark baseline, NOT fault tolerant: serve alone as\n"
		"                           replica 0 with no consensus (node/solo.h; -i must be 0)\n"
		"  -l, --log-level LEVEL    debug | info | warn | error (default info)\n"
		"      --list-byzantine[=PROTOCOL]\n"
		"                           print every Byzantine mode, the protocols it applies to\n"
		"                           and what it does; =pbft or =hbbft: just that protocol's\n"
		"                           mode names, one a line\n"
		"  -h, --help               this text\n"
		"\n"
		"SIGTERM or SIGINT stops the replica cleanly: the log is flushed and synced.\n"
		"Exit status: 0 after a clean stop, 1 on a start-up or fatal error, 2 on a usage error.\n");
}

/* Every mode with the protocols it applies to and a line on what it does; with a protocol
 * ("pbft" or "hbbft"), only the names of that protocol's modes, one a line, for scripts (the
 * Byzantine test suite runs each of them, so a new mode is picked up without editing it). */
static int list_byzantine(const char *protocol)
{
	uint32_t want = 0;

	if (protocol != NULL) {
		if (strcmp(protocol, "pbft") == 0) {
			want = BFT_BYZ_PBFT_MODES;
		} else if (strcmp(protocol, "hbbft") == 0) {
			want = BFT_BYZ_HB_MODES;
		} else {
			fprintf(stderr, "bftnode: --list-byzantine=PROTOCOL is pbft or hbbft, not '%s'\n",
				protocol);
			return 2;
		}
		for (uint32_t bit = 1; bit != 0; bit <<= 1)
			if ((want & bit) != 0 && bft_byz_mode_name(bit) != NULL)
				printf("%s\n", bft_byz_mode_name(bit));
		return 0;
	}
	printf("Byzantine modes (bftnode --byzantine MODE[,MODE...]); a mode outside the\n"
	       "cluster's protocol is refused at start-up:\n");
	for (uint32_t bit = 1; bit != 0; bit <<= 1) {
		const char *name = bft_byz_mode_name(bit);
		const char *where = (bit & BFT_BYZ_PBFT_MODES) && (bit & BFT_BYZ_HB_MODES) ? "pbft,hbbft"
				    : (bit & BFT_BYZ_PBFT_MODES)                             ? "pbft"
				    : (bit & BFT_BYZ_HB_MODES)                               ? "hbbft"
											     : "none";
		if (name != NULL)
			printf("  %-22s %-11s %s\n", name, where, bft_byz_mode_help(bit));
	}
	return 0;
}

static int parse_modes(const char *arg, struct bft_byz *byz)
{
	char buf[512];
	char *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint32_t m = bft_byz_mode_from_name(tok);
		if (m == 0) {
			fprintf(stderr, "bftnode: unknown Byzantine mode '%s' (see --list-byzantine)\n",
				tok);
			return -1;
		}
		byz->modes |= m;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"id", required_argument, NULL, 'i'},
		{"data-dir", required_argument, NULL, 'd'},
		{"byzantine", required_argument, NULL, 'b'},
		{"crash-after", required_argument, NULL, 'C'},
		{"fault", required_argument, NULL, 'F'},
		{"log-level", required_argument, NULL, 'l'},
		{"list-byzantine", optional_argument, NULL, 'L'},
		{"solo", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct node_replica_opts opts = {.log_level = NLOG_INFO};
	struct node_replica *r;
	struct sigaction sa;
	char err[1024];
	char *end;
	int id_set = 0, solo = 0, c, rc;

	opts.byz.crash_after = 200;
	while ((c = getopt_long(argc, argv, "c:i:d:b:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'i':
			opts.id = (bft_replica_id)strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0') {
				fprintf(stderr, "bftnode: --id wants a replica number, not '%s'\n", optarg);
				return 2;
			}
			id_set = 1;
			break;
		case 'd':
			opts.data_dir = optarg;
			break;
		case 'b':
			if (parse_modes(optarg, &opts.byz) != 0)
				return 2;
			break;
		case 'C':
			opts.byz.crash_after = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0') {
				fprintf(stderr, "bftnode: --crash-after wants a number\n");
				return 2;
			}
			break;
		case 'F':
			opts.fault_spec = optarg;
			break;
		case 'l':
			opts.log_level = nlog_level_parse(optarg);
			if (opts.log_level < 0) {
				fprintf(stderr, "bftnode: --log-level is debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'S':
			solo = 1;
			break;
		case 'L':
			return list_byzantine(optarg);
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opts.config_path == NULL || !id_set || optind != argc) {
		usage(stderr);
		return 2;
	}
	opts.byz.seed = 0x9e3779b97f4a7c15ull ^ opts.id;
	/* Every client connection is a descriptor: take all the kernel allows us, so the client
	 * listener's conns_max (not the soft default of 1,024) is what limits connections. */
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (cr_init() != 0) {
		fprintf(stderr, "bftnode: libsodium failed to initialise\n");
		return 1;
	}
	if (solo) {
		if (opts.id != 0) {
			fprintf(stderr, "bftnode: --solo serves as replica 0 only\n");
			return 2;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		return node_solo_run(opts.config_path, opts.data_dir, &stop_flag) == 0 ? 0 : 1;
	}
	if (node_replica_open(&r, &opts, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftnode: %s\n", err);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opts.byz.modes != 0)
		nlog(NLOG_WARN, "running as a FAULTY replica (Byzantine modes 0x%x)", opts.byz.modes);
	rc = node_replica_run(r, &stop_flag);
	node_replica_close(r);
	return rc == 0 ? 0 : 1;
}
