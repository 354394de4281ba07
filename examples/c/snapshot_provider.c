/*
 * snapshot_provider: publishes the cgroups under a directory as the
 * CGROUPS_SNAPSHOT service, the way the agent's cgroups collector does.
 *
 *   snapshot_provider RUN_DIR [CGROUP_ROOT]
 *
 * The auth token comes from the agent's invocation id in the environment
 * (NETDATA_INVOCATION_ID, else INVOCATION_ID). The tree under CGROUP_ROOT
 * (default /sys/fs/cgroup) is rescanned every second on the main thread;
 * the handler, which runs on library worker threads, copies the current
 * scan under a mutex. SIGTERM or SIGINT stops it (5 s drain).
 *
 * Build: cc -std=c11 snapshot_provider.c $(pkg-config --cflags --libs netipc)
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netipc.h>

struct cgroup {
    uint32_t hash;
    char *name; /* relative to the root, no leading slash */
    char *path; /* absolute directory */
};

/* The scan the handler publishes; replaced as a whole under `lock`. */
struct table {
    pthread_mutex_t lock;
    struct cgroup *items;
    size_t count;
    uint64_t generation;
};

static struct table table = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};
static volatile sig_atomic_t stop;

/* Scratch state of one scan (nftw has no user pointer). */
static struct cgroup *scan_items;
static size_t scan_count, scan_cap, root_len;

/* The collector's identity hash of a name: 32-bit FNV-1a. */
static uint32_t name_hash(const char *s) {
    uint32_t h = 0x811c9dc5u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    if (type != FTW_D || ftw->level == 0) return 0;
    if (scan_count == scan_cap) {
        size_t cap = scan_cap ? scan_cap * 2 : 64;
        struct cgroup *grown = realloc(scan_items, cap * sizeof *grown);
        if (!grown) return 1;
        scan_items = grown;
        scan_cap = cap;
    }
    const char *name = path + root_len;
    while (*name == '/') name++;
    struct cgroup *c = &scan_items[scan_count];
    c->name = strdup(name);
    c->path = strdup(path);
    if (!c->name || !c->path) {
        free(c->name);
        free(c->path);
        return 1;
    }
    c->hash = name_hash(c->name);
    scan_count++;
    return 0;
}

static void free_items(struct cgroup *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(items[i].name);
        free(items[i].path);
    }
    free(items);
}

/* Scans `root`; installs the result when the set of names changed. */
static void rescan(const char *root) {
    scan_items = NULL;
    scan_count = scan_cap = 0;
    root_len = strlen(root);
    if (nftw(root, visit, 32, FTW_PHYS) != 0) {
        fprintf(stderr, "snapshot_provider: cannot scan %s\n", root);
        free_items(scan_items, scan_count);
        return;
    }
    pthread_mutex_lock(&table.lock);
    int same = scan_count == table.count;
    for (size_t i = 0; same && i < scan_count; i++)
        same = strcmp(scan_items[i].name, table.items[i].name) == 0;
    if (same) {
        pthread_mutex_unlock(&table.lock);
        free_items(scan_items, scan_count);
        return;
    }
    struct cgroup *old = table.items;
    size_t old_count = table.count;
    table.items = scan_items;
    table.count = scan_count;
    table.generation++;
    printf("generation %llu: %zu cgroups\n", (unsigned long long)table.generation, table.count);
    fflush(stdout);
    pthread_mutex_unlock(&table.lock);
    free_items(old, old_count);
}

/* The CGROUPS_SNAPSHOT handler: runs on library threads, maybe several at
   once, so it only reads the table under its lock. */
static netipc_result on_snapshot(void *ctx, netipc_snapshot_builder *b) {
    struct table *t = ctx;
    pthread_mutex_lock(&t->lock);
    netipc_result rc = netipc_snapshot_builder_begin(b, 1, t->generation, t->count);
    for (size_t i = 0; rc == NETIPC_OK && i < t->count; i++) {
        const struct cgroup *c = &t->items[i];
        rc = netipc_snapshot_builder_add(b, c->hash, 0, 1, (const uint8_t *)c->name,
                                         strlen(c->name), (const uint8_t *)c->path,
                                         strlen(c->path));
        if (rc == NETIPC_ERR_OVERFLOW) {
            /* Full: send the cgroups that fit. */
            rc = NETIPC_OK;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int fail(const char *what, netipc_result rc) {
    size_t len;
    const uint8_t *msg = netipc_last_error(&len);
    fprintf(stderr, "snapshot_provider: %s: %s: %.*s\n", what,
            (const char *)netipc_result_name(rc, NULL), (int)len, (const char *)msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: snapshot_provider RUN_DIR [CGROUP_ROOT]\n");
        return 2;
    }
    const char *run_dir = argv[1];
    const char *root = argc == 3 ? argv[2] : "/sys/fs/cgroup";

    uint64_t token;
    netipc_result rc = netipc_auth_token_from_env(&token);
    if (rc != NETIPC_OK) return fail("auth token", rc);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    rescan(root);

    netipc_server_config *cfg = NULL;
    rc = netipc_server_config_new(token, &cfg);
    if (rc != NETIPC_OK) return fail("config", rc);
    netipc_server_config_set_workers(cfg, 2);
    netipc_server *server = NULL;
    const char *service = "cgroups-snapshot";
    rc = netipc_server_start_snapshot((const uint8_t *)run_dir, strlen(run_dir),
                                      (const uint8_t *)service, strlen(service), cfg, on_snapshot,
                                      &table, &server);
    netipc_server_config_free(cfg);
    if (rc != NETIPC_OK) return fail("start", rc);
    printf("serving %s/%s.sock\n", run_dir, service);
    fflush(stdout);

    while (!stop) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL); /* a signal cuts it short */
        if (!stop) rescan(root);
    }

    rc = netipc_server_stop(server, 5000);
    if (rc != NETIPC_OK) fprintf(stderr, "snapshot_provider: a handler is still busy\n");
    uint64_t requests = 0;
    netipc_server_stat(server, NETIPC_SERVER_STAT_REQUESTS, &requests);
    netipc_server_free(server); /* waits for any handler still running */
    free_items(table.items, table.count);
    printf("stopped after %llu requests\n", (unsigned long long)requests);
    return 0;
}
