/*
 * bftkeygen: writes a cluster's configuration and key material (node/keygen.h does the work).
 *
 * Exit status: 0 done, 2 bad usage (including a cluster size that cannot work), 1 failure
 * (the directory is not empty, an I/O error). Prints no secret, ever: only paths and counts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/keygen.h"

#define NODE_KEYGEN_EXIT_OK      0
#define NODE_KEYGEN_EXIT_FAILURE 1
#define NODE_KEYGEN_EXIT_USAGE   2

static void node_keygen_usage(FILE *out)
{
	fprintf(out,
		"Usage: bftkeygen (--faults F | --replicas N) --clients C --out DIR [options]\n"
		"\n"
		"Writes DIR/cluster.ini and the secret key files of a bft cluster: one Ed25519 key\n"
		"per replica and per client, and per replica a share of the threshold coin and of\n"
		"the threshold encryption key (two key sets, threshold f+1). Key files are mode\n"
		"0600; give each replica and client only its own. keys/README.md describes them.\n"
		"\n"
		"  -f, --faults F      Byzantine faults to tolerate; the cluster gets n = 3F+1\n"
		"                      replicas unless --replicas says otherwise\n"
		"  -n, --replicas N    number of replicas, at least 4 and at most %u; f defaults\n"
		"                      to (N-1)/3, and with --faults N must be at least 3F+1\n"
		"  -c, --clients C     number of client identities to create, 0..%u\n"
		"  -o, --out DIR       output directory; created (mode 0700) if missing, and must\n"
		"                      be empty (hidden files and README.md aside) unless --force\n"
		"      --host H        host name or address of every endpoint (default %s)\n"
		"      --base-port P   first port (default %u): replica i listens on P+3i for\n"
		"                      replicas, P+3i+1 for clients, P+3i+2 for HTTP status\n"
		"      --protocol X    pbft (default) or hbbft\n"
		"      --force         write into a non-empty DIR, replacing the files a key\n"
		"                      generation writes (other files are left alone)\n"
		"  -h, --help          show this help and exit\n"
		"\n"
		"Exit status: 0 success, 2 usage error, 1 failure.\n",
		NODE_CONFIG_REPLICAS_MAX, NODE_CONFIG_CLIENTS_MAX, NODE_KEYGEN_HOST,
		NODE_KEYGEN_BASE_PORT);
}

static int node_keygen_usage_error(const char *msg, const char *arg)
{
	if (arg != NULL)
		fprintf(stderr, "bftkeygen: %s '%s'\n", msg, arg);
	else
		fprintf(stderr, "bftkeygen: %s\n", msg);
	fprintf(stderr, "Try 'bftkeygen --help'.\n");
	return NODE_KEYGEN_EXIT_USAGE;
}

/* A decimal number in 0..UINT32_MAX - 1 (UINT32_MAX means "not given"), nothing else. */
static int node_keygen_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	size_t len = strlen(s);

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10u + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_HOST = 256, OPT_BASE_PORT, OPT_PROTOCOL, OPT_FORCE };
	static const struct option longopts[] = {
		{ "faults", required_argument, NULL, 'f' },
		{ "replicas", required_argument, NULL, 'n' },
		{ "clients", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "base-port", required_argument, NULL, OPT_BASE_PORT },
		{ "protocol", required_argument, NULL, OPT_PROTOCOL },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct node_keygen_opts o;
	char err[NODE_CONFIG_ERR_BYTES];
	bool have_clients = false;
	uint32_t n, f;
	int ch;

	node_keygen_opts_default(&o);
	opterr = 0; /* our own messages, with the --help hint */
	while ((ch = getopt_long(argc, argv, ":f:n:c:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (node_keygen_parse_u32(optarg, &o.faults) != 0)
				return node_keygen_usage_error("--faults takes a number, not", optarg);
			break;
		case 'n':
			if (node_keygen_parse_u32(optarg, &o.replicas) != 0)
				return node_keygen_usage_error("--replicas takes a number, not",
							       optarg);
			break;
		case 'c':
			if (node_keygen_parse_u32(optarg, &o.clients) != 0)
				return node_keygen_usage_error("--clients takes a number, not",
							       optarg);
			have_clients = true;
			break;
		case 'o':
			o.out_dir = optarg;
			break;
		case OPT_HOST:
			o.host = optarg;
			break;
		case OPT_BASE_PORT:
			if (node_keygen_parse_u32(optarg, &o.base_port) != 0)
				return node_keygen_usage_error("--base-port takes a number, not",
							       optarg);
			break;
		case OPT_PROTOCOL:
			if (strcmp(optarg, "pbft") == 0)
				o.protocol = NODE_PROTOCOL_PBFT;
			else if (strcmp(optarg, "hbbft") == 0)
				o.protocol = NODE_PROTOCOL_HBBFT;
			else
				return node_keygen_usage_error("--protocol is pbft or hbbft, not",
							       optarg);
			break;
		case OPT_FORCE:
			o.force = true;
			break;
		case 'h':
			node_keygen_usage(stdout);
			return NODE_KEYGEN_EXIT_OK;
		case ':':
			return node_keygen_usage_error("missing the value of", argv[optind - 1]);
		default: {
			/* getopt sets optopt for an unknown short option, 0 for a long one. */
			char shortopt[3] = { '-', (char)optopt, '\0' };

			return node_keygen_usage_error("unknown option",
						       optopt != 0 ? shortopt : argv[optind - 1]);
		}
		}
	}
	if (optind < argc)
		return node_keygen_usage_error("unexpected argument", argv[optind]);
	if (!have_clients)
		return node_keygen_usage_error("give the number of clients (--clients C; 0 for "
					       "none)", NULL);
	if (node_keygen_resolve(&o, &n, &f, err, sizeof(err)) != 0)
		return node_keygen_usage_error(err, NULL);
	if (node_keygen_run(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftkeygen: %s\n", err);
		return NODE_KEYGEN_EXIT_FAILURE;
	}
	printf("bftkeygen: wrote %s/cluster.ini: %u replicas (f = %u, %s), %u client%s.\n"
	       "Copy the replica-N.* files to replica N only, client-N.key to client N only.\n",
	       o.out_dir, n, f, node_protocol_name(o.protocol), o.clients,
	       o.clients == 1 ? "" : "s");
	return NODE_KEYGEN_EXIT_OK;
}
