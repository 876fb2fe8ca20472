/*
 * registry_schema: the SQLite schema of the registry file (a wire contract:
 * the sidecar, launchers and berth readers of different builds share one
 * file).
 *
 * Bump REGISTRY_SCHEMA_VERSION whenever the schema changes, and append the
 * step from the previous version to REGISTRY_MIGRATIONS: entry i takes a file
 * from version i to version i + 1 (entry 0 creates the schema of version 1).
 * Steps run in order inside one write transaction; never edit a released
 * step, add a new one. A program refuses a file whose version is newer than
 * its own (-ENOTSUP); a read-only handle refuses an older one (-EPROTO),
 * since only a writer may migrate.
 *
 * The binding and outbox tables carry no CHECK constraints: they are the hot
 * path (CHECKs cost about as much as the insert itself), the registry
 * validates every value before writing, and reading re-validates (a bad
 * stored value is -EIO). The cold tenants table keeps its CHECKs.
 *
 * Statuses are stored as the upper-case names of enum binding_status and
 * enum tenant_status; times as Unix milliseconds (0 = unset).
 *
 * Outbox: one row per changed binding or tenant, written in the same
 * transaction as the change; `ref` is the rowid of the changed row, and that
 * row's `outbox_id` points back at its pending outbox row. A newer change of
 * the same row deletes that pending row and adds a new one (ids come from
 * AUTOINCREMENT, so they are never reused and an ack of a superseded id is a
 * no-op). The outbox therefore holds at most one row per key, and the body
 * handed to the sync target is built when read, from the current row: the
 * row's whole state at its latest version. REMOVED bindings stay in the table
 * as tombstones until synced and pruned, so a removal reaches the target too.
 *
 * Indexes are kept small, since every change writes them: the unique key is
 * (task_id, container_name, container_port, protocol), task_id being the
 * text after the task ARN's last '/' (an ECS task id is a UUID; a plain
 * container's key is its 64-hex id), and the registry checks the full ARN
 * itself; container ids are indexed by their first 12 characters (Docker's
 * short id), the full id being compared on the row.
 *
 * Keys handed to the sync target: a binding is
 * "<task_arn>#<container_name>#<container_port>/<protocol>"
 * (REGISTRY_BINDING_KEY_FMT), a tenant its subdomain.
 */
#ifndef BERTH_REGISTRY_SCHEMA_H
#define BERTH_REGISTRY_SCHEMA_H

#define REGISTRY_SCHEMA_VERSION 1
/* PRAGMA application_id of a berth registry: "brth". */
#define REGISTRY_APPLICATION_ID 0x62727468

#define REGISTRY_BINDING_KEY_FMT "%s#%s#%d/%s"

#define REGISTRY_SCHEMA_V1                                                                         \
	"CREATE TABLE bindings ("                                                                  \
	" id INTEGER PRIMARY KEY,"                                                                 \
	" task_arn TEXT NOT NULL,"                                                                 \
	" task_id TEXT NOT NULL,"                                                                  \
	" container_name TEXT NOT NULL,"                                                           \
	" container_id TEXT NOT NULL DEFAULT '',"                                                  \
	" container_port INTEGER NOT NULL,"                                                        \
	" protocol TEXT NOT NULL,"                                                                 \
	" host_ip TEXT NOT NULL DEFAULT '',"                                                       \
	" host_port INTEGER NOT NULL DEFAULT 0,"                                                   \
	" host_port_v6 INTEGER NOT NULL DEFAULT 0,"                                                \
	" status TEXT NOT NULL,"                                                                   \
	" exit_code INTEGER,"                                                                      \
	" tenant TEXT NOT NULL DEFAULT '',"                                                        \
	" cluster TEXT NOT NULL DEFAULT '',"                                                       \
	" family TEXT NOT NULL DEFAULT '',"                                                        \
	" revision TEXT NOT NULL DEFAULT '',"                                                      \
	" started_at INTEGER NOT NULL DEFAULT 0,"                                                  \
	" stopped_at INTEGER NOT NULL DEFAULT 0,"                                                  \
	" updated_at INTEGER NOT NULL DEFAULT 0,"                                                  \
	" version INTEGER NOT NULL DEFAULT 1,"                                                     \
	" outbox_id INTEGER NOT NULL DEFAULT 0,"                                                   \
	" UNIQUE (task_id, container_name, container_port, protocol));"                            \
	"CREATE INDEX bindings_container_id ON bindings (substr(container_id, 1, 12));"            \
	"CREATE TABLE tenants ("                                                                   \
	" subdomain TEXT PRIMARY KEY CHECK (length(subdomain) > 0),"                               \
	" admin_email TEXT NOT NULL DEFAULT '',"                                                   \
	" company_name TEXT NOT NULL DEFAULT '',"                                                  \
	" status TEXT NOT NULL CHECK (status IN ('PROVISIONING','RUNNING','FAILED','STOPPED')),"   \
	" url TEXT NOT NULL DEFAULT '',"                                                           \
	" host_ip TEXT NOT NULL DEFAULT '',"                                                       \
	" host_port INTEGER NOT NULL DEFAULT 0,"                                                   \
	" task_arn TEXT NOT NULL DEFAULT '',"                                                      \
	" error TEXT NOT NULL DEFAULT '',"                                                         \
	" created_at INTEGER NOT NULL DEFAULT 0,"                                                  \
	" updated_at INTEGER NOT NULL DEFAULT 0,"                                                  \
	" version INTEGER NOT NULL DEFAULT 1,"                                                     \
	" outbox_id INTEGER NOT NULL DEFAULT 0);"                                                  \
	"CREATE TABLE outbox ("                                                                    \
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                   \
	" kind TEXT NOT NULL,"                                                                     \
	" ref INTEGER NOT NULL,"                                                                   \
	" created_at INTEGER NOT NULL,"                                                            \
	" attempts INTEGER NOT NULL DEFAULT 0,"                                                    \
	" last_error TEXT NOT NULL DEFAULT '',"                                                    \
	" last_attempt_at INTEGER NOT NULL DEFAULT 0);"                                            \
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"

/* Migration steps; entry i takes version i to i + 1. */
#define REGISTRY_MIGRATIONS                                                                        \
	{                                                                                          \
		REGISTRY_SCHEMA_V1                                                                 \
	}

#endif
