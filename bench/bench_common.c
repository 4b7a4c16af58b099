/*
 * bench_common.c — see bench_common.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
