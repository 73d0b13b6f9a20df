// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Settings files with libyaml. The document is first read whole into a small
 * tree that keeps the line of every node, so that any later error, even one
 * found only when a value is checked against its setting, can name its line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "array.h"
#include "config.h" /* CONFIG_FILE_MAX */
#include "config_yaml.h"
#include "utf8.h"

#define MAX_KEY_LEN 128
#define MAX_DEPTH   16

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	enum ynode_kind kind;
	int line;
	char *text;          /* scalars; YAML's null spellings become "" */
	bool has_nul;        /* the scalar held a NUL, so text is cut short */
	struct ynode **kids; /* sequence items, or map keys and values alternating */
	size_t nkids, cap;
};

void cfg_yaml_fail(const struct cfg_yaml_report *r, int line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0 && key)
		snprintf(r->err, r->errlen, "%s:%d: %s: %s", r->path, line, key, msg);
	else if (line > 0)
		snprintf(r->err, r->errlen, "%s:%d: %s", r->path, line, msg);
	else if (key)
		snprintf(r->err, r->errlen, "%s: %s: %s", r->path, key, msg);
	else
		snprintf(r->err, r->errlen, "%s: %s", r->path, msg);
	cfg_escape_line(r->err, r->errlen);
}

/* ---- the file as text ---- */

static int read_whole_file(const struct cfg_yaml_report *r, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	*out = NULL;
	fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		cfg_yaml_fail(r, 0, NULL, "cannot open: %s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		cfg_yaml_fail(r, 0, NULL, "cannot stat: %s", strerror(-ret));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_yaml_fail(r, 0, NULL, "not a regular file");
		ret = -EINVAL;
		goto cleanup;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		cfg_yaml_fail(r, 0, NULL,
		              "file is %lld bytes, more than the %d byte limit for a configuration",
		              (long long)st.st_size, CONFIG_FILE_MAX);
		ret = -EFBIG;
		goto cleanup;
	}
	/* One byte more than allowed, to notice a file that grew since fstat. */
	buf = malloc(CONFIG_FILE_MAX + 2);
	if (!buf) {
		cfg_yaml_fail(r, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	while (len < CONFIG_FILE_MAX + 1) {
		ssize_t n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			cfg_yaml_fail(r, 0, NULL, "cannot read: %s", strerror(-ret));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		cfg_yaml_fail(r, 0, NULL, "file is more than the %d byte limit for a configuration",
		              CONFIG_FILE_MAX);
		ret = -EFBIG;
		goto cleanup;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 0;

cleanup:
	free(buf);
	close(fd);
	return ret;
}

static int line_at(const char *buf, size_t offset)
{
	int line = 1;

	for (size_t i = 0; i < offset; i++)
		line += buf[i] == '\n';
	return line;
}

/* Text checks libyaml would report less clearly, or not at all. */
static int check_text(const struct cfg_yaml_report *r, const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);
	size_t bad;

	if (len == 0 || strspn(buf, " \t\r\n") == len) {
		cfg_yaml_fail(r, 1, NULL,
		              "file is empty: no settings (an empty file is refused rather "
		              "than silently meaning all defaults)");
		return -EINVAL;
	}
	if (nul) {
		cfg_yaml_fail(r, line_at(buf, (size_t)(nul - buf)), NULL,
		              "binary data (NUL byte at offset %zu): not a YAML text file",
		              (size_t)(nul - buf));
		return -EINVAL;
	}
	bad = utf8_find_invalid((const unsigned char *)buf, len);
	if (bad < len) {
		cfg_yaml_fail(r, line_at(buf, bad), NULL, "not valid UTF-8 text");
		return -EINVAL;
	}
	return 0;
}

/* ---- the text as a tree of nodes ---- */

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

void cfg_yaml_free(struct ynode *root)
{
	ynode_free(root);
}

static const char *kind_name(const struct ynode *n)
{
	return n->kind == YN_SEQ ? "a list" : n->kind == YN_MAP ? "a map" : "a single value";
}

static int next_event(const struct cfg_yaml_report *r, yaml_parser_t *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		cfg_yaml_fail(r, 0, NULL, "out of memory while parsing");
		return -ENOMEM;
	}
	if (p->context)
		cfg_yaml_fail(r, (int)p->problem_mark.line + 1, NULL, "invalid YAML: %s %s",
		              p->problem, p->context);
	else
		cfg_yaml_fail(r, (int)p->problem_mark.line + 1, NULL, "invalid YAML: %s",
		              p->problem ? p->problem : "unknown error");
	return -EINVAL;
}

static bool is_null_spelling(const char *s)
{
	return !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int add_kid(struct ynode *n, struct ynode *kid)
{
	if (ARRAY_RESERVE(n->kids, n->cap, n->nkids + 1))
		return -ENOMEM;
	n->kids[n->nkids++] = kid;
	return 0;
}

/* Builds the node that starts with ev (not consumed) and everything it contains. */
static int read_node(const struct cfg_yaml_report *r, yaml_parser_t *p, const yaml_event_t *ev,
                     int depth, struct ynode **out)
{
	yaml_event_type_t end_type;
	struct ynode *n;
	int ret;

	*out = NULL;
	/* refused rather than expanded, which also rules out alias bombs */
	if (ev->type == YAML_ALIAS_EVENT) {
		cfg_yaml_fail(
		    r, (int)ev->start_mark.line + 1, NULL,
		    "alias *%s: anchors and aliases are not supported, write the value out",
		    (const char *)ev->data.alias.anchor);
		return -EINVAL;
	}
	if (depth > MAX_DEPTH) {
		cfg_yaml_fail(r, (int)ev->start_mark.line + 1, NULL,
		              "nested more than %d levels deep", MAX_DEPTH);
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto nomem;
	n->line = (int)ev->start_mark.line + 1;

	if (ev->type == YAML_SCALAR_EVENT) {
		const char *value = (const char *)ev->data.scalar.value;

		n->kind = YN_SCALAR;
		/* "\0" escapes would cut the value short in C strings; refused once
		 * the key is known, so the error can name it */
		n->has_nul = strlen(value) != ev->data.scalar.length;
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_spelling(value))
			value = "";
		n->text = strdup(value);
		if (!n->text)
			goto nomem;
		*out = n;
		return 0;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n->kind = YN_SEQ;
		end_type = YAML_SEQUENCE_END_EVENT;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		n->kind = YN_MAP;
		end_type = YAML_MAPPING_END_EVENT;
	} else {
		cfg_yaml_fail(r, n->line, NULL, "unexpected YAML event");
		ynode_free(n);
		return -EINVAL;
	}
	for (;;) {
		yaml_event_t child;
		struct ynode *kid;

		ret = next_event(r, p, &child);
		if (ret) {
			ynode_free(n);
			return ret;
		}
		if (child.type == end_type) {
			yaml_event_delete(&child);
			break;
		}
		ret = read_node(r, p, &child, depth + 1, &kid);
		yaml_event_delete(&child);
		if (ret) {
			ynode_free(n);
			return ret;
		}
		if (add_kid(n, kid)) {
			ynode_free(kid);
			goto nomem;
		}
	}
	*out = n;
	return 0;

nomem:
	ynode_free(n);
	cfg_yaml_fail(r, 0, NULL, "out of memory");
	return -ENOMEM;
}

/* Returns the root node of the only document; NULL root means no settings. */
static int read_document(const struct cfg_yaml_report *r, yaml_parser_t *p, struct ynode **root)
{
	yaml_event_t ev;
	int ret;

	*root = NULL;
	ret = next_event(r, p, &ev); /* stream start */
	if (ret)
		return ret;
	yaml_event_delete(&ev);
	ret = next_event(r, p, &ev);
	if (ret)
		return ret;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev); /* document start */
	ret = next_event(r, p, &ev);
	if (ret)
		return ret;
	ret = read_node(r, p, &ev, 0, root);
	yaml_event_delete(&ev);
	if (ret)
		return ret;
	ret = next_event(r, p, &ev); /* document end */
	if (ret)
		goto cleanup;
	yaml_event_delete(&ev);
	ret = next_event(r, p, &ev);
	if (ret)
		goto cleanup;
	if (ev.type != YAML_STREAM_END_EVENT) {
		cfg_yaml_fail(r, (int)ev.start_mark.line + 1, NULL,
		              "more than one YAML document; the configuration is a single map");
		yaml_event_delete(&ev);
		ret = -EINVAL;
		goto cleanup;
	}
	yaml_event_delete(&ev);
	return 0;

cleanup:
	ynode_free(*root);
	*root = NULL;
	return ret;
}

static int parse_text(const struct cfg_yaml_report *r, const char *buf, size_t len,
                      struct ynode **root)
{
	yaml_parser_t parser;
	int ret;

	if (!yaml_parser_initialize(&parser)) {
		cfg_yaml_fail(r, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	ret = read_document(r, &parser, root);
	yaml_parser_delete(&parser);
	return ret;
}

int cfg_yaml_read(const struct cfg_yaml_report *r, struct ynode **root)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	*root = NULL;
	ret = read_whole_file(r, &buf, &len);
	if (ret)
		return ret;
	ret = check_text(r, buf, len);
	if (ret)
		goto cleanup;
	ret = parse_text(r, buf, len, root);
	if (ret)
		goto cleanup;
	if (!*root || ((*root)->kind == YN_SCALAR && !(*root)->text[0])) {
		cfg_yaml_fail(r, *root ? (*root)->line : 1, NULL,
		              "no settings: the file holds only comments");
		ret = -EINVAL;
	} else if ((*root)->kind != YN_MAP) {
		cfg_yaml_fail(r, (*root)->line, NULL,
		              "the top level must be a map of settings, found %s",
		              kind_name(*root));
		ret = -EINVAL;
	}
	if (ret) {
		ynode_free(*root);
		*root = NULL;
	}

cleanup:
	free(buf);
	return ret;
}

/* ---- the tree as settings ---- */

struct walk {
	const struct cfg_yaml_report *r;
	const struct cfg_option *opts;
	size_t nopts;
	void *base;
	int *set_line;
};

/* "prefix.name", or just name at the top level; the length snprintf wanted. */
static int join_key(char *buf, size_t len, const char *prefix, const char *name)
{
	return snprintf(buf, len, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
}

/* Checks a node and everything in it for NUL characters. */
static bool has_nul(const struct cfg_yaml_report *r, const struct ynode *n, const char *key)
{
	if (n->has_nul) {
		cfg_yaml_fail(r, n->line, key, "value contains a NUL character");
		return true;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		if (has_nul(r, n->kids[i], key))
			return true;
	}
	return false;
}

/* Keys of one map must be unique plain names; YAML parsers do not check that. */
static int check_map_keys(const struct cfg_yaml_report *r, const struct ynode *map,
                          const char *prefix)
{
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->kind != YN_SCALAR) {
			cfg_yaml_fail(r, k->line, prefix, "a key must be a plain name, found %s",
			              kind_name(k));
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j += 2) {
			if (strcmp(map->kids[j]->text, k->text) == 0) {
				char full[MAX_KEY_LEN * 2];

				join_key(full, sizeof(full), prefix, k->text);
				cfg_yaml_fail(r, k->line, full, "duplicate key (first at line %d)",
				              map->kids[j]->line);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* A single value: the setting's own text form, or "" for an empty map. */
static int apply_scalar(struct walk *w, const struct cfg_option *o, const struct ynode *v)
{
	char msg[384];
	size_t bad = 0;
	int ret;

	if (cfg_is_map(o)) {
		if (v->text[0]) {
			cfg_yaml_fail(w->r, v->line, o->key,
			              "expected a map of NAME: VALUE, found %s", kind_name(v));
			return -EINVAL;
		}
		ret = cfg_option_set_map(o, w->base, NULL, 0, &bad, msg, sizeof(msg));
	} else {
		ret = cfg_option_set(o, w->base, v->text, msg, sizeof(msg));
	}
	if (ret)
		cfg_yaml_fail(w->r, v->line, o->key, "%s", msg);
	return ret;
}

static int apply_list(struct walk *w, const struct cfg_option *o, const struct ynode *v)
{
	const char **items;
	char msg[384];
	size_t bad = 0;
	int ret;

	if (!cfg_is_list(o)) {
		cfg_yaml_fail(w->r, v->line, o->key, "expected %s, found a list",
		              cfg_is_map(o) ? "a map" : "a single value");
		return -EINVAL;
	}
	items = calloc(v->nkids + 1, sizeof(*items));
	if (!items) {
		cfg_yaml_fail(w->r, v->line, o->key, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->nkids; i++) {
		if (v->kids[i]->kind != YN_SCALAR) {
			cfg_yaml_fail(w->r, v->kids[i]->line, o->key,
			              "list items must be single values, found %s",
			              kind_name(v->kids[i]));
			free(items);
			return -EINVAL;
		}
		items[i] = v->kids[i]->text;
	}
	ret = cfg_option_set_items(o, w->base, items, v->nkids, &bad, msg, sizeof(msg));
	if (ret)
		cfg_yaml_fail(w->r, v->kids[bad]->line, o->key, "%s", msg);
	free(items);
	return ret;
}

static int apply_pairs(struct walk *w, const struct cfg_option *o, const struct ynode *v)
{
	size_t npairs = v->nkids / 2, bad = 0;
	struct kv *pairs;
	char msg[384];
	int ret;

	if (!cfg_is_map(o)) {
		cfg_yaml_fail(w->r, v->line, o->key, "expected %s, found a map",
		              cfg_is_list(o) ? "a list" : "a single value");
		return -EINVAL;
	}
	ret = check_map_keys(w->r, v, o->key);
	if (ret)
		return ret;
	pairs = calloc(npairs + 1, sizeof(*pairs));
	if (!pairs) {
		cfg_yaml_fail(w->r, v->line, o->key, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < npairs; i++) {
		const struct ynode *name = v->kids[2 * i], *val = v->kids[2 * i + 1];

		if (val->kind != YN_SCALAR) {
			cfg_yaml_fail(w->r, val->line, o->key,
			              "%s: value must be a single value, found %s", name->text,
			              kind_name(val));
			free(pairs);
			return -EINVAL;
		}
		pairs[i].key = name->text;
		pairs[i].value = val->text;
	}
	ret = cfg_option_set_map(o, w->base, pairs, npairs, &bad, msg, sizeof(msg));
	if (ret)
		cfg_yaml_fail(w->r, v->kids[bad < npairs ? bad * 2 : 0]->line, o->key, "%s", msg);
	free(pairs);
	return ret;
}

static int apply_value(struct walk *w, const struct cfg_option *o, const struct ynode *v)
{
	if (has_nul(w->r, v, o->key))
		return -EINVAL;
	switch (v->kind) {
	case YN_SCALAR:
		return apply_scalar(w, o, v);
	case YN_SEQ:
		return apply_list(w, o, v);
	default:
		return apply_pairs(w, o, v);
	}
}

/* Applies the settings of one map, whose keys are below prefix (NULL at the top). */
static int apply_map(struct walk *w, const struct ynode *map, const char *prefix)
{
	char full[MAX_KEY_LEN + 1];
	int ret, idx;

	ret = check_map_keys(w->r, map, prefix);
	if (ret)
		return ret;
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		int n = join_key(full, sizeof(full), prefix, k->text);

		if (n < 0 || (size_t)n >= sizeof(full)) {
			cfg_yaml_fail(w->r, k->line, NULL, "unknown key \"%.40s...\"", k->text);
			return -EINVAL;
		}
		if (!k->text[0]) {
			cfg_yaml_fail(w->r, k->line, prefix, "empty key");
			return -EINVAL;
		}
		if (has_nul(w->r, k, full))
			return -EINVAL;
		idx = cfg_find_option(w->opts, w->nopts, full);
		if (idx >= 0) {
			/* also catches the same setting written both nested and dotted */
			if (w->set_line[idx]) {
				cfg_yaml_fail(w->r, k->line, full,
				              "duplicate key (first at line %d)", w->set_line[idx]);
				return -EINVAL;
			}
			ret = apply_value(w, &w->opts[idx], v);
			if (ret)
				return ret;
			w->set_line[idx] = k->line;
			continue;
		}
		idx = cfg_find_section(w->opts, w->nopts, full);
		if (idx < 0) {
			cfg_yaml_fail(w->r, k->line, full, "unknown key");
			return -EINVAL;
		}
		if (v->kind == YN_SCALAR && !v->text[0])
			continue; /* an empty section changes nothing */
		if (v->kind != YN_MAP) {
			cfg_yaml_fail(w->r, v->line, full,
			              "expected a section of settings such as %s, found %s",
			              w->opts[idx].key, kind_name(v));
			return -EINVAL;
		}
		ret = apply_map(w, v, full);
		if (ret)
			return ret;
	}
	return 0;
}

int cfg_yaml_apply(const struct cfg_yaml_report *r, const struct ynode *root,
                   const struct cfg_option *opts, size_t nopts, void *base, int *set_line)
{
	struct walk w = {.r = r, .opts = opts, .nopts = nopts, .base = base, .set_line = set_line};

	return apply_map(&w, root, NULL);
}
