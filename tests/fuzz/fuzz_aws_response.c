/*
 * Fuzzes what berth reads from AWS and its metadata services: one input is
 * tried as an error body (with and without an X-Amzn-ErrorType header), as
 * an ECS answer (RunTask/DescribeTasks/StopTask), as a DynamoDB item, as a
 * credentials document, and as a task definition for the backend's check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws_creds.h"
#include "aws/aws_ddb.h"
#include "aws/aws_ecs.h"
#include "aws/aws_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_error e;
	struct aws_creds cr;
	struct ecs_task *t;
	struct ecs_failure *f;
	json_error_t jerr;
	json_t *j, *x;
	char err[256];
	char(*arns)[ECS_ARN_MAX];
	int nt, nf, na;

	aws_error_parse(NULL, (const char *)data, size, &e);
	aws_retry_classify(0, 400, e.code);
	aws_error_parse("X-Amzn-ErrorType: a#b:c\r\n", (const char *)data, size, &e);
	aws_creds_parse((const char *)data, size, &cr, err, sizeof(err));
	if ((j = json_loadb((const char *)data, size, 0, &jerr)) == NULL)
		return 0;
	if (ecs_parse_tasks(j, &t, &nt, &f, &nf, err, sizeof(err)) == 0) {
		free(t);
		free(f);
	}
	if (ecs_parse_task_arns(j, &arns, &na, err, sizeof(err)) == 0)
		free(arns);
	ecs_taskdef_check(j, "app", 8000, err, sizeof(err));
	if ((x = ddb_item_to_json(j)) != NULL) {
		json_t *back = ddb_item_from_json(x);
		json_decref(back);
		json_decref(x);
	}
	json_decref(j);
	return 0;
}
