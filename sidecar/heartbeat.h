/*
 * heartbeat: this host's item in the DynamoDB table (registry/item.h,
 * "host#<id>"), so launchers on other hosts find this sidecar's API and
 * know whether it is alive. Written once the host's id (the ECS container
 * instance ARN, or the machine id without an agent) and address are known,
 * then every interval; LEFT at a clean stop. Each write is conditional on
 * its version (the write's wall-clock ms), so a late write never replaces a
 * newer one. A failed write is logged and the next beat tries again.
 */
#ifndef BERTH_SIDECAR_HEARTBEAT_H
#define BERTH_SIDECAR_HEARTBEAT_H

#include <stddef.h>

struct event_base;
struct aws;
struct registry;
struct metrics;
struct heartbeat;

#define HEARTBEAT_STOP_MS 3000 /* the LEFT write's patience at shutdown */

/* All borrowed. interval_s: seconds between writes. NULL when out of memory. */
struct heartbeat *heartbeat_new(struct event_base *, struct aws *, struct registry *,
                                const char *table, int interval_s, struct metrics *);
/* The host's id and, when an ECS agent said it, its container instance ARN (may be ""). */
void heartbeat_set_id(struct heartbeat *, const char *id, const char *instance_arn);
/* The host's address and the URL other hosts reach this sidecar's API at. */
void heartbeat_set_address(struct heartbeat *, const char *host_ip, const char *api_url);
/* Writes LEFT (waiting up to HEARTBEAT_STOP_MS) and frees; NULL is a no-op. */
void heartbeat_stop(struct heartbeat *);

/* The machine's stable id (/etc/machine-id, else the host name) into out. */
void heartbeat_machine_id(char *out, size_t outlen);

#endif
