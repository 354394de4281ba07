/*
 * ebpf_consumer: consumes the CGROUPS_SNAPSHOT service the way the agent's
 * eBPF collector does: a 1 s tick, a snapshot refresh every 30 s, its own
 * list of cgroups matched by hash + exact name, and a clean close on
 * SIGTERM.
 *
 *   ebpf_consumer RUN_DIR
 *
 * The auth token comes from the agent's invocation id in the environment.
 *
 * Build: cc -std=c11 ebpf_consumer.c $(pkg-config --cflags --libs netipc)
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netipc.h>

#define REFRESH_EVERY_TICKS 30

/* The collector's own view of one cgroup. */
struct tracked {
    uint32_t hash;
    uint32_t enabled;
    char *name;
    char *path;
    int seen; /* in the latest snapshot */
};

static struct tracked *tracked;
static size_t tracked_count, tracked_cap;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static char *dup_bytes(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Finds a tracked cgroup by hash and exact name bytes. */
static struct tracked *find(uint32_t hash, const uint8_t *name, size_t len) {
    for (size_t i = 0; i < tracked_count; i++) {
        struct tracked *t = &tracked[i];
        if (t->hash == hash && strlen(t->name) == len && memcmp(t->name, name, len) == 0) return t;
    }
    return NULL;
}

/* Merges a snapshot into the tracked list: new cgroups are added, gone ones
   removed, the rest updated. */
static void merge(const netipc_cgroups *snap) {
    for (size_t i = 0; i < tracked_count; i++) tracked[i].seen = 0;
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < netipc_cgroups_count(snap); i++) {
        uint32_t hash, enabled;
        const uint8_t *name, *path;
        size_t name_len, path_len;
        if (netipc_cgroups_item(snap, i, &hash, NULL, &enabled, &name, &name_len, &path,
                                &path_len) != NETIPC_OK)
            continue;
        struct tracked *t = find(hash, name, name_len);
        if (!t) {
            if (tracked_count == tracked_cap) {
                size_t cap = tracked_cap ? tracked_cap * 2 : 64;
                struct tracked *grown = realloc(tracked, cap * sizeof *grown);
                if (!grown) return;
                tracked = grown;
                tracked_cap = cap;
            }
            t = &tracked[tracked_count++];
            t->hash = hash;
            t->name = dup_bytes(name, name_len);
            t->path = dup_bytes(path, path_len);
            added++;
        }
        t->enabled = enabled;
        t->seen = 1;
    }
    for (size_t i = 0; i < tracked_count;) {
        if (!tracked[i].seen) {
            free(tracked[i].name);
            free(tracked[i].path);
            tracked[i] = tracked[--tracked_count];
            removed++;
        } else {
            i++;
        }
    }
    printf("snapshot: %zu cgroups, generation %llu (+%zu -%zu)\n", tracked_count,
           (unsigned long long)netipc_cgroups_generation(snap), added, removed);
}

static void print_status(const netipc_client *client, netipc_client_status *st) {
    if (netipc_client_get_status(client, st) != NETIPC_OK) return;
    uint64_t session = 0;
    int has_session = netipc_client_status_session_id(st, &session);
    printf("status: state %u, profile %u, session %llu, shm %s\n",
           netipc_client_status_state(st), netipc_client_status_profile(st),
           has_session ? (unsigned long long)session : 0ULL,
           netipc_client_status_shm_in_use(st) ? "yes" : "no");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ebpf_consumer RUN_DIR\n");
        return 2;
    }
    const char *run_dir = argv[1];
    const char *service = "cgroups-snapshot";

    uint64_t token;
    if (netipc_auth_token_from_env(&token) != NETIPC_OK) {
        fprintf(stderr, "ebpf_consumer: %s\n", (const char *)netipc_last_error(NULL));
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    netipc_client_config *cfg = NULL;
    netipc_client *client = NULL;
    netipc_client_status *st = NULL;
    if (netipc_client_config_new(token, &cfg) != NETIPC_OK ||
        netipc_client_config_set_timeouts(cfg, 5000, 5000) != NETIPC_OK ||
        netipc_client_new(NETIPC_SERVICE_CGROUPS_SNAPSHOT, (const uint8_t *)run_dir,
                          strlen(run_dir), (const uint8_t *)service, strlen(service), cfg,
                          &client) != NETIPC_OK ||
        netipc_client_status_new(&st) != NETIPC_OK) {
        fprintf(stderr, "ebpf_consumer: %s\n", (const char *)netipc_last_error(NULL));
        return 1;
    }
    netipc_client_config_free(cfg);

    /* Fetch at once, then every REFRESH_EVERY_TICKS ticks. */
    unsigned ticks_to_refresh = 0;
    while (!stop) {
        if (ticks_to_refresh == 0) {
            netipc_result rc = netipc_client_refresh(client, NULL);
            const netipc_cgroups *snap = NULL;
            if (rc == NETIPC_OK) rc = netipc_client_call_snapshot(client, 5000, &snap);
            if (rc == NETIPC_OK) {
                merge(snap); /* snap is valid until the next call on client */
                print_status(client, st);
                ticks_to_refresh = REFRESH_EVERY_TICKS;
            } else {
                printf("no snapshot yet: %s\n", (const char *)netipc_result_name(rc, NULL));
                ticks_to_refresh = 1; /* retry on the next tick */
            }
            fflush(stdout);
        }
        struct timespec tick = {1, 0};
        nanosleep(&tick, NULL); /* SIGTERM cuts it short */
        ticks_to_refresh--;
    }

    netipc_client_close(client);
    netipc_client_free(client);
    netipc_client_status_free(st);
    for (size_t i = 0; i < tracked_count; i++) {
        free(tracked[i].name);
        free(tracked[i].path);
    }
    free(tracked);
    printf("closed\n");
    return 0;
}
