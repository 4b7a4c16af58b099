/*
 * bench_common.h — what both benchmark programs share: the clock, the
 * peak-RSS reading of BENCH.md, the expected answers, and the output line.
 */
#ifndef CORM_BENCH_COMMON_H
#define CORM_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

double bench_now(void);
/* Reset the high-water mark of resident memory (write 5 to clear_refs). */
void bench_reset_peak(void);
/* VmHWM in kB. */
long bench_peak_kb(void);
void bench_report(const char *workload, double seconds);
/* On a server, untimed, after the workloads that write many rows: time
 * for the server to write them out (its background writer, WAL, InnoDB's
 * page flushing), which would otherwise land in the next workload of
 * whichever program wrote fastest: 1 s + 1 s per 20,000 rows of
 * bench_rows, then until the machine is idle (measured on MariaDB: after
 * corm's 1-second insert of 100,000 users, a 1-second pause left the next
 * workload 2x slower). Nothing on SQLite. */
extern bool bench_on_server;
extern int64_t bench_rows;
void bench_settle(void);

/* What a run does, from argv[3]: every workload ("all", the default);
 * "users": the schema and N users (the insert workload), nothing else;
 * "scan": the scan workload alone, on the users left by a "users" run, so
 * that its time and peak memory are a fresh process's (BENCH.md). */
enum bench_mode { BENCH_ALL, BENCH_USERS, BENCH_SCAN, BENCH_SCAN_RO, BENCH_STREAM };
enum bench_mode bench_mode(int argc, char **argv);
/* Exit non-zero with a message when a workload's answer is wrong. */
void bench_check(const char *workload, int64_t got, int64_t want);

/* The data of BENCH.md. */
void bench_username(char *buf, int64_t i);
void bench_email(char *buf, int64_t i);
int64_t bench_age(int64_t i);
int64_t bench_sum_ages(int64_t n);
/* Users of the relations, lazy and delete workloads: N / 10 (10,000 at
 * N = 100,000), or BENCH_REL_USERS (bench/callgrind.sh keeps 10,000 at
 * its smaller N, so its counts compare with earlier ones). */
int64_t bench_rel_users(int64_t n);
/* rows with age == 18 + k % 80, capped at 50: the filter workload's answer */
int64_t bench_filter_rows(int64_t n);

/* ---- the baselines' rows: plain structs, strings malloc'd ---------------- */
typedef struct datetime { int32_t year; uint8_t month, day, hour, minute, second; uint32_t usec; } datetime;

typedef struct user {
    int64_t id;
    char *username, *email;
    int64_t age;
    datetime created;
} user;

typedef struct post {
    int64_t id;
    char *content;
    int64_t user_id;
    datetime created;
} post;

/* a user with its posts, for the relationship workloads */
typedef struct user_posts {
    user *u;
    post **posts;
    size_t n, cap;
} user_posts;

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" */
datetime bench_parse_datetime(const char *s);
/* The created text of row i: "2024-01-DD HH:MM:SS". */
void bench_created(char *buf, size_t size, int64_t i);
void bench_free_user(user *u);
void bench_add_post(user_posts *up, post *p);
void bench_free_user_posts(user_posts *v, size_t n);

/* The end of a baseline's scan, begun at t0 with the peak at before: sum
 * the ages, take the peak, free the users, report and check. */
void bench_scan_done(user **v, size_t cnt, int64_t n, double t0, long before);
/* The end of a baseline's relations workload: count the posts and the
 * users with ten, free all, report and check. */
void bench_relations_done(user_posts *v, size_t cnt, int64_t users, double t0);

#endif
