/*
 * A netipc provider for the multi-process tests.
 *
 *   provider KIND RUN_DIR SERVICE TOKEN_HEX ITEMS PROFILE
 *
 * KIND is increment, string-reverse, snapshot, cgroups-lookup or apps-lookup
 * (the synthetic answers of lookup_common.h); ITEMS is the number of
 * synthetic cgroups a snapshot holds; PROFILE (uds, shm) is what it offers.
 * Prints "listening" once the socket is bound, serves until its standard
 * input reaches end of file, then stops (5 s drain), prints its request
 * count and exits 0.
 */
#include "lookup_common.h"

static netipc_result on_increment(void *ctx, uint64_t value, uint64_t *answer) {
    (void)ctx;
    *answer = value + 1;
    return NETIPC_OK;
}

static netipc_result on_reverse(void *ctx, const uint8_t *s, size_t len,
                                netipc_string_builder *answer) {
    (void)ctx;
    for (size_t i = len; i > 0; i--) {
        netipc_result rc = netipc_string_builder_append(answer, &s[i - 1], 1);
        if (rc != NETIPC_OK) return rc;
    }
    return NETIPC_OK;
}

static netipc_result on_snapshot(void *ctx, netipc_snapshot_builder *b) {
    size_t items = *(const size_t *)ctx;
    netipc_result rc = netipc_snapshot_builder_begin(b, 1, 7, items);
    if (rc != NETIPC_OK) return rc;
    for (size_t i = 0; i < items; i++) {
        char name[128], path[192];
        synthetic_item(i, name, sizeof name, path, sizeof path);
        rc = netipc_snapshot_builder_add(b, name_hash(name, strlen(name)), (uint32_t)i,
                                         (uint32_t)(i % 2), S(name), S(path));
        if (rc == NETIPC_ERR_OVERFLOW) break; /* send what fits */
        if (rc != NETIPC_OK) return rc;
    }
    return NETIPC_OK;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: provider KIND RUN_DIR SERVICE TOKEN_HEX ITEMS PROFILE\n");
        return 2;
    }
    const char *kind = argv[1], *run_dir = argv[2], *service = argv[3];
    uint64_t token = parse_token(argv[4]);
    size_t items = (size_t)strtoull(argv[5], NULL, 10);
    int shm = strcmp(argv[6], "shm") == 0;

    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(token, &cfg));
    if (shm)
        OK(netipc_server_config_set_profiles(cfg, NETIPC_PROFILE_UDS | NETIPC_PROFILE_SHM_HYBRID,
                                             NETIPC_PROFILE_SHM_HYBRID));
    else
        OK(netipc_server_config_set_profiles(cfg, NETIPC_PROFILE_UDS, NETIPC_PROFILE_UDS));
    OK(netipc_server_config_set_workers(cfg, 4));

    netipc_server *server = NULL;
    if (strcmp(kind, "increment") == 0)
        OK(netipc_server_start_increment(S(run_dir), S(service), cfg, on_increment, NULL, &server));
    else if (strcmp(kind, "string-reverse") == 0)
        OK(netipc_server_start_string_reverse(S(run_dir), S(service), cfg, on_reverse, NULL,
                                              &server));
    else if (strcmp(kind, "snapshot") == 0)
        OK(netipc_server_start_snapshot(S(run_dir), S(service), cfg, on_snapshot, &items,
                                        &server));
    else if (strcmp(kind, "cgroups-lookup") == 0)
        OK(netipc_server_start_cgroups_lookup(S(run_dir), S(service), cfg, on_cgroups_lookup, NULL,
                                              &server));
    else if (strcmp(kind, "apps-lookup") == 0)
        OK(netipc_server_start_apps_lookup(S(run_dir), S(service), cfg, on_apps_lookup, NULL,
                                           &server));
    else {
        fprintf(stderr, "unknown kind %s\n", kind);
        return 2;
    }
    netipc_server_config_free(cfg);
    printf("listening\n");
    fflush(stdout);

    char buf[64];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }

    OK(netipc_server_stop(server, 5000));
    uint64_t requests = 0;
    OK(netipc_server_stat(server, NETIPC_SERVER_STAT_REQUESTS, &requests));
    netipc_server_free(server);
    printf("requests=%" PRIu64 "\n", requests);
    return 0;
}
