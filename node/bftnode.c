/*
 * bftnode: one replica of a Byzantine fault tolerant key-value cluster.
 * See `bftnode --help`; the event loop is node/replica.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bft/byz.h"
#include "crypto/cr_sign.h"
#include "node/nlog.h"
#include "node/replica.h"

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
		"  -l, --log-level LEVEL    debug | info | warn | error (default info)\n"
		"      --list-byzantine     print every Byzantine mode with a line on what it does\n"
		"  -h, --help               this text\n"
		"\n"
		"SIGTERM or SIGINT stops the replica cleanly: the log is flushed and synced.\n"
		"Exit status: 0 after a clean stop, 1 on a start-up or fatal error, 2 on a usage error.\n");
}

static void list_byzantine(void)
{
	printf("Byzantine modes (bftnode --byzantine MODE[,MODE...]):\n");
	for (uint32_t bit = 1; bit != 0; bit <<= 1) {
		const char *name = bft_byz_mode_name(bit);
		if (name != NULL)
			printf("  %-22s %s\n", name, bft_byz_mode_help(bit));
	}
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
		{"list-byzantine", no_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct node_replica_opts opts = {.log_level = NLOG_INFO};
	struct node_replica *r;
	struct sigaction sa;
	char err[1024];
	char *end;
	int id_set = 0, c, rc;

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
		case 'L':
			list_byzantine();
			return 0;
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
	if (cr_init() != 0) {
		fprintf(stderr, "bftnode: libsodium failed to initialise\n");
		return 1;
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
