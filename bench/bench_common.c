/*
 * bench_common.c — see bench_common.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

long bench_peak_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

bool bench_on_server;

int64_t bench_rows;

int64_t bench_rel_users(int64_t n)
{
    const char *v = getenv("BENCH_REL_USERS");
    if (v && atoll(v) > 0)
        return atoll(v);
    return n >= 10 ? n / 10 : n;
}

/* The machine's busy and total CPU time so far (/proc/stat's first line;
 * waiting for I/O counts as busy: a server writing its pages out is). */
static void cpu_times(unsigned long long *busy, unsigned long long *total)
{
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
        v[3] = 1; /* unreadable: looks idle */
    if (f)
        fclose(f);
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - v[3];
}

void bench_settle(void)
{
    if (!bench_on_server)
        return;
    /* at least a second and a second per 20,000 rows, then until a
     * second passes with the machine at most 5% busy (at most 60 s) */
    sleep((unsigned)(1 + bench_rows / 20000));
    for (int i = 0; i < 60; i++) {
        unsigned long long b0, t0, b1, t1;
        cpu_times(&b0, &t0);
        sleep(1);
        cpu_times(&b1, &t1);
        if (t1 <= t0 || (double)(b1 - b0) / (double)(t1 - t0) <= 0.05)
            break;
    }
}

enum bench_mode bench_mode(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[3], "all") == 0)
        return BENCH_ALL;
    if (strcmp(argv[3], "users") == 0)
        return BENCH_USERS;
    if (strcmp(argv[3], "scan") == 0)
        return BENCH_SCAN;
    if (strcmp(argv[3], "stream") == 0) /* bench_corm only */
        return BENCH_STREAM;
    if (strcmp(argv[3], "scan_ro") == 0) /* bench_corm only */
        return BENCH_SCAN_RO;
    fprintf(stderr, "%s: unknown mode %s (all, users, scan, scan_ro, stream)\n", argv[0], argv[3]);
    exit(2);
}

void bench_report(const char *workload, double seconds)
{
    printf("workload %s seconds %.6f\n", workload, seconds);
    fflush(stdout);
}

void bench_check(const char *workload, int64_t got, int64_t want)
{
    if (got != want) {
        fprintf(stderr, "workload %s: wrong answer %lld, expected %lld\n", workload,
                (long long)got, (long long)want);
        exit(1);
    }
}

void bench_username(char *buf, int64_t i) { sprintf(buf, "user%06lld", (long long)i); }
void bench_email(char *buf, int64_t i) { sprintf(buf, "user%06lld@example.com", (long long)i); }
int64_t bench_age(int64_t i) { return 18 + i % 80; }

int64_t bench_sum_ages(int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 1; i <= n; i++)
        s += bench_age(i);
    return s;
}

int64_t bench_filter_rows(int64_t n)
{
    int64_t per_age[80] = { 0 }, total = 0;
    for (int64_t i = 1; i <= n; i++)
        per_age[i % 80]++;
    for (int k = 0; k < 1000; k++)
        total += per_age[k % 80] < 50 ? per_age[k % 80] : 50;
    return total;
}

static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

datetime bench_parse_datetime(const char *s)
{
    datetime dt = { num(s, 4), (uint8_t)num(s + 5, 2), (uint8_t)num(s + 8, 2),
                    (uint8_t)num(s + 11, 2), (uint8_t)num(s + 14, 2), (uint8_t)num(s + 17, 2), 0 };
    if (s[19] == '.')
        dt.usec = (uint32_t)num(s + 20, 6);
    return dt;
}

void bench_created(char *buf, size_t size, int64_t i)
{
    snprintf(buf, size, "2024-01-%02d %02d:%02d:%02d", (int)(1 + i / 86400),
             (int)(i % 86400 / 3600), (int)(i / 60 % 60), (int)(i % 60));
}

void bench_free_user(user *u)
{
    free(u->username);
    free(u->email);
    free(u);
}

void bench_add_post(user_posts *up, post *p)
{
    if (up->n == up->cap) {
        up->cap = up->cap ? up->cap * 2 : 4;
        up->posts = realloc(up->posts, up->cap * sizeof *up->posts);
    }
    up->posts[up->n++] = p;
}

void bench_free_user_posts(user_posts *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < v[i].n; k++) {
            free(v[i].posts[k]->content);
            free(v[i].posts[k]);
        }
        free(v[i].posts);
        bench_free_user(v[i].u);
    }
    free(v);
}

void bench_scan_done(user **v, size_t cnt, int64_t n, double t0, long before)
{
    int64_t sum = 0;
    for (size_t i = 0; i < cnt; i++)
        sum += v[i]->age;
    long peak = bench_peak_kb();
    for (size_t i = 0; i < cnt; i++)
        bench_free_user(v[i]);
    free(v);
    bench_report("scan", bench_now() - t0);
    printf("workload scan peak_rss_kb %ld\n", peak - before);
    bench_check("scan", sum, bench_sum_ages(n));
}

void bench_relations_done(user_posts *v, size_t cnt, int64_t users, double t0)
{
    int64_t posts = 0, right = 0;
    for (size_t i = 0; i < cnt; i++) {
        posts += (int64_t)v[i].n;
        right += v[i].n == 10;
    }
    bench_free_user_posts(v, cnt);
    bench_report("relations", bench_now() - t0);
    bench_check("relations", posts, users * 10);
    bench_check("relations users with 10 posts", right, users);
}
