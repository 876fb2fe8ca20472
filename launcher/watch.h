/*
 * watch: a RUNNING tenant follows its task. When the registry shows every
 * binding of a tenant's task STOPPED or REMOVED (the sidecar saw the
 * container die) and no DELETE or provision is working on it, the tenant
 * becomes STOPPED (exit code 0) or FAILED (any other exit, with the code),
 * in the registry and so, through the outbox, in DynamoDB.
 *
 * Checked once per WATCH_INTERVAL_MS when the registry changed. Tenants on
 * other hosts, whose bindings this registry never holds, are left as they are.
 */
#ifndef BERTH_LAUNCHER_WATCH_H
#define BERTH_LAUNCHER_WATCH_H

struct launcher;

#define WATCH_INTERVAL_MS 1000

/* Arms the watch on l's loop. 0 or -ENOMEM. */
int watch_start(struct launcher *);
void watch_stop(struct launcher *);
/* Checks every RUNNING tenant now; returns how many changed (tests). */
int watch_scan(struct launcher *);

#endif
