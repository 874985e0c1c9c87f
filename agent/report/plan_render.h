/* SPDX-License-Identifier: MIT */
/*
 * `st7dfu plan`: the decision for every attached device, as text for people and as one
 * JSON document for programs (the README's "plan --json" documents every field).
 * No I/O besides the buffer they fill.
 *
 * JSON: {"manifest":{"url","serial","issued","expires","signer","sha256",
 *   "not_modified","unchanged"},
 *  "gateway":{"id","channel","time","timezone","window":{"open","next_open","closes"}},
 *  "devices":[{"serial","path","vid","pid","mode":"runtime"|"dfu","version",
 *    "profiles":[...],"rule":NAME|null,"action":"update"|"recover"|"none",
 *    "reason":st7_plan_reason_name,"detail","release":NAME|null,
 *    "release_version":"0x0237"|null,"url":RESOLVED|null,"sha256","size",
 *    "cohort":N|null,"rollout":N|null,"until":TIME|null,"failures":N}]}
 * Times are RFC 3339 UTC ("2026-12-01T02:00:00Z"); IDs and versions "0x%04x" text.
 */
#ifndef ST7_PLAN_RENDER_H
#define ST7_PLAN_RENDER_H

#include "buf.h"
#include "decide.h"
#include "json_writer.h"
#include "manifest_source.h"

struct st7_plan_view {
	const struct st7_plan_input *in;
	const struct st7_plan_row *rows;
	const char *manifest_url;
	const struct st7_manifest_report *rep;
	const char *timezone;               /* as the policy says ("" system) */
	char (*urls)[ST7_MANIFEST_URL_MAX]; /* per row: the resolved image URL, "" none */
};

void st7_plan_text(const struct st7_plan_view *v, struct st7_buf *out);
void st7_plan_json(const struct st7_plan_view *v, struct st7_json *j);

#endif
