// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What is built on the settings table (config_table.c): defaults, loading a
 * file (read by config_yaml.c), command-line overrides, cross-field checks,
 * the example file and the reload change log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "config_map.h"
#include "config_table.h"
#include "config_yaml.h"
#include "kv_list.h"
#include "memory_budget.h"
#include "utf8.h"

void config_init_defaults(struct agent_config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_noptions; i++) {
		/* A default that does not parse is a bug in the table above. */
		if (cfg_option_set(&config_options[i], cfg, config_options[i].def, msg,
		                   sizeof(msg))) {
			fprintf(stderr, "tcpstates-agent: bad default for %s: %s\n",
			        config_options[i].key, msg);
			abort();
		}
	}
}

void config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < config_noptions; i++)
		cfg_option_free(&config_options[i], cfg);
	free(cfg->source_path);
	memset(cfg, 0, sizeof(*cfg));
}

int config_copy(struct agent_config *dst, const struct agent_config *src)
{
	int ret;

	*dst = *src;
	dst->source_path = NULL;
	for (size_t i = 0; i < config_noptions; i++)
		cfg_option_forget(&config_options[i], dst);
	for (size_t i = 0; i < config_noptions; i++) {
		ret = cfg_option_copy(&config_options[i], dst, src);
		if (ret)
			goto cleanup;
	}
	if (src->source_path && !(dst->source_path = strdup(src->source_path))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	return 0;

cleanup:
	config_free(dst);
	return ret;
}

static bool is_utf8(const char *s)
{
	size_t len = strlen(s);

	return utf8_find_invalid((const unsigned char *)s, len) == len;
}

int config_set(struct agent_config *cfg, const char *key, const char *value, char *err,
               size_t errlen)
{
	const char *name;
	char msg[384];
	int idx, ret;

	if (!is_utf8(key) || !is_utf8(value)) {
		/* a settings file is UTF-8 text: this could never be written back */
		snprintf(msg, sizeof(msg), "%s is not valid UTF-8", is_utf8(key) ? "value" : "key");
		ret = -EINVAL;
	} else if ((idx = cfg_find_option(config_options, config_noptions, key)) >= 0) {
		ret = cfg_option_set(&config_options[idx], cfg, value, msg, sizeof(msg));
	} else if ((idx = cfg_find_map_entry(config_options, config_noptions, key, &name)) >= 0) {
		/* map settings take "labels.NAME" as a key for one entry */
		ret = cfg_option_set_map_entry(&config_options[idx], cfg, name, value, msg,
		                               sizeof(msg));
	} else if ((idx = cfg_find_section(config_options, config_noptions, key)) >= 0) {
		snprintf(msg, sizeof(msg), "is a section, not a setting (e.g. %s)",
		         config_options[idx].key);
		ret = -EINVAL;
	} else {
		snprintf(msg, sizeof(msg), "unknown key");
		ret = -EINVAL;
	}
	if (ret) {
		snprintf(err, errlen, "%s: %s", key, msg);
		cfg_escape_line(err, errlen);
	}
	return ret;
}

struct cross_problem {
	const char *key, *other; /* the two settings in conflict */
	char msg[192];           /* said from key's side */
	char other_msg[192];     /* said from other's side */
};

static int check_cross(const struct agent_config *cfg, struct cross_problem *p)
{
	char a[32], b[32];

	if (cfg->wakeup_bytes >= cfg->ringbuf_bytes) {
		cfg_format_size(cfg->wakeup_bytes, a, sizeof(a));
		cfg_format_size(cfg->ringbuf_bytes, b, sizeof(b));
		p->key = "bpf.wakeup_bytes";
		p->other = "bpf.ringbuf_bytes";
		snprintf(p->msg, sizeof(p->msg), "%s must be smaller than bpf.ringbuf_bytes (%s)",
		         a, b);
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "%s must be larger than bpf.wakeup_bytes (%s)", b, a);
		return -EINVAL;
	}
	if (cfg->value_format == VALUE_FORMAT_CONFLUENT && !cfg->registry_url &&
	    !cfg->registry_schema_id) {
		p->key = "kafka.value_format";
		p->other = "kafka.schema_registry.url";
		snprintf(
		    p->msg, sizeof(p->msg),
		    "confluent needs kafka.schema_registry.url or kafka.schema_registry.schema_id");
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "is empty, and kafka.value_format confluent needs it (or schema_id)");
		return -EINVAL;
	}
	if (cfg->registry_url && cfg->registry_schema_id) {
		p->key = "kafka.schema_registry.schema_id";
		p->other = "kafka.schema_registry.url";
		snprintf(p->msg, sizeof(p->msg),
		         "set either schema_id (a fixed id) or url (register), not both");
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "set either url (register) or schema_id (a fixed id), not both");
		return -EINVAL;
	}
	if (!cfg->registry_username != !cfg->registry_password_file) {
		p->key = "kafka.schema_registry.password_file";
		p->other = "kafka.schema_registry.username";
		snprintf(p->msg, sizeof(p->msg),
		         "basic auth needs both username and password_file");
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "basic auth needs both username and password_file");
		return -EINVAL;
	}
	if (cfg->spool_segment_bytes > cfg->spool_max_bytes / 2) {
		cfg_format_size(cfg->spool_segment_bytes, a, sizeof(a));
		cfg_format_size(cfg->spool_max_bytes, b, sizeof(b));
		p->key = "spool.segment_bytes";
		p->other = "spool.max_bytes";
		/* space is reclaimed a whole segment at a time */
		snprintf(p->msg, sizeof(p->msg),
		         "%s is more than half of spool.max_bytes (%s): the spool needs room for "
		         "at least two segments",
		         a, b);
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "%s must be at least twice spool.segment_bytes (%s)", b, a);
		return -EINVAL;
	}
	return 0;
}

int config_validate(const struct agent_config *cfg, char *err, size_t errlen)
{
	struct cross_problem p;
	struct memory_plan plan;
	int ret;

	ret = check_cross(cfg, &p);
	if (ret) {
		snprintf(err, errlen, "%s: %s", p.key, p.msg);
		return ret;
	}
	/* Last: the budget's message names the sizes the checks above accepted. */
	return memory_plan_from_config(cfg, &plan, err, errlen);
}

/* ---- loading a file ---- */

/* Points a cross-field problem at whichever of the two settings this file set. */
static void fail_cross(const struct cfg_yaml_report *r, const struct cross_problem *p,
                       const int *set_line)
{
	int k = cfg_find_option(config_options, config_noptions, p->key);
	int o = cfg_find_option(config_options, config_noptions, p->other);

	if (set_line[k])
		cfg_yaml_fail(r, set_line[k], p->key, "%s", p->msg);
	else if (set_line[o])
		cfg_yaml_fail(r, set_line[o], p->other, "%s", p->other_msg);
	else
		cfg_yaml_fail(r, 0, p->key, "%s", p->msg);
}

int config_load_file(struct agent_config *cfg, const char *path, char *err, size_t errlen)
{
	const struct cfg_yaml_report r = {.path = path, .err = err, .errlen = errlen};
	struct cross_problem cross;
	struct agent_config next;
	struct ynode *root;
	int *set_line; /* line of each setting in this file, 0 if absent */
	int ret;

	set_line = calloc(config_noptions, sizeof(*set_line));
	if (!set_line) {
		cfg_yaml_fail(&r, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	ret = cfg_yaml_read(&r, &root);
	if (ret)
		goto cleanup_lines;
	/* Work on a copy: a file that fails halfway leaves *cfg as it was. */
	ret = config_copy(&next, cfg);
	if (ret) {
		cfg_yaml_fail(&r, 0, NULL, "out of memory");
		goto cleanup_root;
	}
	ret = cfg_yaml_apply(&r, root, config_options, config_noptions, &next, set_line);
	if (ret)
		goto cleanup_next;
	ret = check_cross(&next, &cross);
	if (ret) {
		fail_cross(&r, &cross, set_line);
		goto cleanup_next;
	}
	free(next.source_path);
	next.source_path = strdup(path);
	if (!next.source_path) {
		cfg_yaml_fail(&r, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup_next;
	}
	config_free(cfg);
	*cfg = next;
	goto cleanup_root;

cleanup_next:
	config_free(&next);
cleanup_root:
	cfg_yaml_free(root);
cleanup_lines:
	free(set_line);
	return ret;
}

/* ---- describing: the example file and the reload log ---- */

static char *format_value(const struct cfg_option *o, const struct agent_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	cfg_option_format(o, cfg, f);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

struct out_buf {
	char *buf;
	size_t len, used;
};

static void out_line(struct out_buf *ob, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends whole lines only, so a truncated log never ends mid-setting. */
static void out_line(struct out_buf *ob, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ob->used >= ob->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(ob->buf + ob->used, ob->len - ob->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= ob->len - ob->used) {
		ob->buf[ob->used] = '\0';
		ob->used = ob->len; /* full: drop this and later lines */
		return;
	}
	ob->used += (size_t)n;
}

/* A key or value of a map as the change log shows it: bare, or quoted if not one plain line. */
static char *shown(const char *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (cfg_text_is_plain(s))
		return strdup(s);
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	cfg_write_quoted(f, s);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* One line of the change log for a map entry; NULL before or after means unset. */
static void describe_entry(struct out_buf *ob, const struct cfg_option *o, const char *key,
                           const char *before, const char *after)
{
	char *k = shown(key), *b = before ? shown(before) : NULL, *a = after ? shown(after) : NULL;

	if (!k || (before && !b) || (after && !a))
		out_line(ob, "%s: (changed)\n", o->key);
	else if (cfg_map_key_is_secret(o, key))
		out_line(ob, "%s.%s: %s\n", o->key, k,
		         !before ? "(set)"
		         : after ? "(changed)"
		                 : "(removed)");
	else
		out_line(ob, "%s.%s: %s -> %s\n", o->key, k, b ? b : "(unset)", a ? a : "(unset)");
	free(k);
	free(b);
	free(a);
}

static void describe_map(struct out_buf *ob, const struct cfg_option *o,
                         const struct kv_list *before, const struct kv_list *after)
{
	for (size_t i = 0; i < before->count; i++) {
		const struct kv *kv = &before->items[i];
		const char *now = kv_list_find(after, kv->key);

		if (!now || strcmp(now, kv->value) != 0)
			describe_entry(ob, o, kv->key, kv->value, now);
	}
	for (size_t i = 0; i < after->count; i++) {
		const struct kv *kv = &after->items[i];

		if (!kv_list_find(before, kv->key))
			describe_entry(ob, o, kv->key, NULL, kv->value);
	}
}

int config_keep_restart_only(struct agent_config *next, const struct agent_config *running,
                             void (*kept)(const char *key, void *ctx), void *ctx)
{
	for (size_t i = 0; i < config_noptions; i++) {
		const struct cfg_option *o = &config_options[i];
		int err;

		if (!(o->flags & CFG_F_RESTART) || cfg_option_equal(o, next, running))
			continue;
		cfg_option_free(o, next);
		err = cfg_option_copy(o, next, running);
		if (err)
			return err;
		kept(o->key, ctx);
	}
	return 0;
}

void config_describe_changes(const struct agent_config *old_cfg, const struct agent_config *new_cfg,
                             char *out, size_t outlen)
{
	struct out_buf ob = {.buf = out, .len = outlen};

	if (!outlen)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < config_noptions; i++) {
		const struct cfg_option *o = &config_options[i];
		char *before, *after;

		if (cfg_option_equal(o, old_cfg, new_cfg))
			continue;
		if (cfg_is_map(o)) {
			describe_map(&ob, o, cfg_cfield(o, old_cfg), cfg_cfield(o, new_cfg));
			continue;
		}
		before = format_value(o, old_cfg);
		after = format_value(o, new_cfg);
		if (!before || !after)
			out_line(&ob, "%s: (changed)\n", o->key);
		else
			out_line(&ob, "%s: %s -> %s\n", o->key, before, after);
		free(before);
		free(after);
	}
}

/* Comment lines of at most 80 columns. */
static void write_comment(FILE *out, int indent, const char *text)
{
	const char *p = text;

	while (*p) {
		int width = 80 - indent - 2, take = 0;
		const char *q = p;

		/* take whole words while they fit; a word longer than a line goes alone */
		while (*q) {
			const char *w = q;

			while (*w == ' ')
				w++;
			const char *e = w;

			while (*e && *e != ' ')
				e++;
			if (take && (e - p) > width)
				break;
			take = (int)(e - p);
			q = e;
		}
		fprintf(out, "%*s# %.*s\n", indent, "", take, p);
		p += take;
		while (*p == ' ')
			p++;
	}
}

static const char *section_desc(const char *name, size_t len)
{
	for (size_t i = 0; i < config_nsections; i++) {
		const struct config_section *sec = &config_sections[i];

		if (strlen(sec->name) == len && strncmp(sec->name, name, len) == 0)
			return sec->desc;
	}
	return NULL;
}

/* Nesting depth of a key's first len characters: the dots in them. */
static int count_dots(const char *key, size_t len)
{
	int dots = 0;

	for (size_t i = 0; i < len; i++)
		dots += key[i] == '.';
	return dots;
}

/* Length of the section part of a key: "filters.comm.include" -> "filters.comm". */
static size_t section_len(const char *key)
{
	const char *dot = strrchr(key, '.');

	return dot ? (size_t)(dot - key) : 0;
}

/* Where the writer is: the sections open, as a dotted prefix of the last key. */
struct writer {
	FILE *out;
	const char *open;
	size_t open_len;
	bool just_opened;
};

/* Opens the sections of key that are not open yet, each with its comment. */
static void open_sections(struct writer *w, const char *key)
{
	size_t sec = section_len(key), common = 0;

	/* the longest dotted prefix shared by the open sections and this key's */
	for (size_t k = 0; k <= w->open_len && k <= sec; k++) {
		if ((k == w->open_len || w->open[k] == '.') && (k == sec || key[k] == '.') &&
		    strncmp(w->open, key, k) == 0)
			common = k;
	}
	/* open each section level below the common part */
	for (size_t k = common; k < sec;) {
		size_t start = k ? k + 1 : 0, end = start;
		int depth = count_dots(key, start);
		const char *desc;

		while (end < sec && key[end] != '.')
			end++;
		desc = section_desc(key, end);
		fputc('\n', w->out);
		if (desc)
			write_comment(w->out, depth * 2, desc);
		fprintf(w->out, "%*s%.*s:\n", depth * 2, "", (int)(end - start), key + start);
		k = end;
		w->just_opened = true;
	}
	w->open = key;
	w->open_len = sec;
}

/* One setting: its description, bounds and restart note as a comment, then its value. */
static void write_setting(struct writer *w, const struct cfg_option *o,
                          const struct agent_config *cfg)
{
	size_t sec = section_len(o->key);
	int depth = count_dots(o->key, strlen(o->key));
	char bounds[160], desc[1024], *value;

	cfg_option_describe(o, bounds, sizeof(bounds));
	snprintf(desc, sizeof(desc), "%s%s%s", o->desc, bounds,
	         o->flags & CFG_F_RESTART ? " Read at start only: a reload keeps the running "
	                                    "value."
	                                  : "");
	if (!w->just_opened)
		fputc('\n', w->out);
	w->just_opened = false;
	write_comment(w->out, depth * 2, desc);
	value = format_value(o, cfg);
	fprintf(w->out, "%*s%s: %s\n", depth * 2, "", o->key + (sec ? sec + 1 : 0),
	        value ? value : "");
	free(value);
}

static void write_settings(FILE *out, const struct agent_config *cfg)
{
	struct writer w = {.out = out, .open = ""};

	for (size_t i = 0; i < config_noptions; i++) {
		open_sections(&w, config_options[i].key);
		write_setting(&w, &config_options[i], cfg);
	}
}

void config_write(FILE *out, const struct agent_config *cfg)
{
	fputs("# tcpstates-agent configuration\n"
	      "#\n"
	      "# Every setting is listed with its value and what it does, in the layout of\n"
	      "# `tcpstates-agent --print-example-config`.\n",
	      out);
	write_settings(out, cfg);
}

void config_write_example(FILE *out)
{
	struct agent_config defaults;

	config_init_defaults(&defaults);
	fputs("# tcpstates-agent configuration, " CONFIG_DEFAULT_PATH "\n"
	      "#\n"
	      "# Every setting is listed with its default value and what it does. This file is\n"
	      "# generated by `tcpstates-agent --print-example-config`. Check a change with\n"
	      "# `tcpstates-agent --check-config -c FILE`, then apply it with SIGHUP\n"
	      "# (systemctl reload tcpstates-agent). Sizes take B, KiB, MiB, GiB or TiB.\n",
	      out);
	write_settings(out, &defaults);
	config_free(&defaults);
}
