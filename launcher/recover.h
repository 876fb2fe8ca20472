/*
 * recover: a registry that lost its tenant rows (deleted, replaced, a new
 * host) gets them back from what outlives it. At start-up the launcher asks
 * its backend for every tenant task it runs or ran (backend_ops.list: the
 * docker backend's containers carry the tenant's subdomain, creation time,
 * e-mail and company name as labels); a subdomain the registry does not know
 * gets its row back: RUNNING (with its URL when the sidecar has the binding)
 * when the task runs, else STOPPED. A later POST with other details is then
 * a 409, never a new tenant in the old one's place. With --dynamodb-table,
 * DynamoDB's tenant items already decide every new subdomain (launcher/ddb.c).
 */
#ifndef BERTH_LAUNCHER_RECOVER_H
#define BERTH_LAUNCHER_RECOVER_H

struct launcher;

/* Starts the look (answered from the loop). 0, or negative when it could not start. */
int recover_start(struct launcher *);

#endif
