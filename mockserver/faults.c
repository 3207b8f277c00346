/*
 * Fault rules: parsing and matching. Rules are tried in the order they were
 * added; the first one that fires applies to the request. Each rule keeps its
 * own count of matching requests and its own random generator, so a given
 * sequence of requests always suffers the same faults. The caller holds
 * mock->lock.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock-private.h"

struct mock_rule {
	struct mock_rule *next;
	int id;
	char *text;
	char *method, *op, *bucket, *key;
	uint64_t nth, times;
	double p;
	bool has_p;
	uint64_t rng;
	uint64_t matched, fired;
	struct mock_fault fault;
};

static void mock_rule_free(struct mock_rule *rule)
{
	free(rule->text);
	free(rule->method);
	free(rule->op);
	free(rule->bucket);
	free(rule->key);
	free(rule);
}

/* splitmix64: tiny, fast, and the same everywhere for a given seed. */
static uint64_t mock_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int mock_rule_error(char **error_r, const char *rule, const char *why,
			   const char *name)
{
	if (error_r != NULL) {
		size_t size = strlen(rule) + strlen(why) + strlen(name) + 32;

		*error_r = malloc(size);
		if (*error_r != NULL)
			snprintf(*error_r, size, "fault rule \"%s\": %s%s",
				 rule, why, name);
	}
	return -EINVAL;
}

static int mock_rule_uint(const char *value, uint64_t max, uint64_t *num_r)
{
	if (fs_parse_uint(value, num_r) < 0 || *num_r > max)
		return -EINVAL;
	return 0;
}

static int mock_rule_action(struct mock_rule *rule, const char *value)
{
	static const struct {
		const char *name;
		enum mock_fault_action action;
	} actions[] = {
		{"error", MOCK_FAULT_ERROR},
		{"delay", MOCK_FAULT_DELAY},
		{"latency", MOCK_FAULT_DELAY},
		{"reset", MOCK_FAULT_RESET},
		{"truncate", MOCK_FAULT_TRUNCATE},
		{"badlength", MOCK_FAULT_BADLENGTH},
		{"drip", MOCK_FAULT_DRIP},
		{"corrupt", MOCK_FAULT_CORRUPT},
	};
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(value, actions[i].name) == 0) {
			rule->fault.action = actions[i].action;
			return 0;
		}
	}
	return -EINVAL;
}

static int mock_rule_delta(const char *value, int64_t *delta_r)
{
	uint64_t num;
	bool neg = value[0] == '-';

	if (value[0] == '-' || value[0] == '+')
		value++;
	if (fs_parse_uint(value, &num) < 0 || num > (1ULL << 40))
		return -EINVAL;
	*delta_r = neg ? -(int64_t)num : (int64_t)num;
	return 0;
}

static int mock_rule_str(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	return *dst == NULL ? -ENOMEM : 0;
}

/* Sets one name=value of rule. Returns 0, -EINVAL or -ENOMEM. */
static int mock_rule_set(struct mock_rule *rule, const char *name,
			 const char *value, bool *explicit_action)
{
	struct mock_fault *f = &rule->fault;
	uint64_t num;
	int ret = 0;

	if (strcmp(name, "method") == 0) {
		ret = mock_rule_str(&rule->method, value);
	} else if (strcmp(name, "op") == 0) {
		ret = mock_rule_str(&rule->op, value);
	} else if (strcmp(name, "bucket") == 0) {
		ret = mock_rule_str(&rule->bucket, value);
	} else if (strcmp(name, "key") == 0) {
		ret = mock_rule_str(&rule->key, value);
	} else if (strcmp(name, "nth") == 0) {
		ret = mock_rule_uint(value, UINT32_MAX, &rule->nth);
		if (ret == 0 && rule->nth == 0)
			ret = -EINVAL;
	} else if (strcmp(name, "times") == 0) {
		ret = mock_rule_uint(value, UINT32_MAX, &rule->times);
	} else if (strcmp(name, "p") == 0) {
		ret = fs_parse_fraction(value, &rule->p);
		rule->has_p = true;
	} else if (strcmp(name, "seed") == 0) {
		ret = mock_rule_uint(value, UINT64_MAX, &rule->rng);
	} else if (strcmp(name, "action") == 0) {
		ret = mock_rule_action(rule, value);
		*explicit_action = true;
	} else if (strcmp(name, "status") == 0) {
		ret = mock_rule_uint(value, 599, &num);
		if (ret == 0 && num < 400)
			ret = -EINVAL;
		f->status = (unsigned int)num;
	} else if (strcmp(name, "code") == 0) {
		if (strlen(value) >= sizeof(f->code) || value[0] == '\0')
			return -EINVAL;
		strcpy(f->code, value);
	} else if (strcmp(name, "message") == 0) {
		if (strlen(value) >= sizeof(f->message))
			return -EINVAL;
		strcpy(f->message, value);
	} else if (strcmp(name, "retry-after") == 0) {
		ret = mock_rule_uint(value, 86400, &num);
		f->retry_after = (unsigned int)num;
	} else if (strcmp(name, "delay") == 0 || strcmp(name, "ms") == 0 ||
		   strcmp(name, "latency") == 0) {
		ret = mock_rule_uint(value, 600000, &num);
		f->delay_ms = (unsigned int)num;
	} else if (strcmp(name, "after") == 0) {
		ret = mock_rule_uint(value, UINT64_MAX, &f->after);
	} else if (strcmp(name, "delta") == 0) {
		ret = mock_rule_delta(value, &f->delta);
	} else if (strcmp(name, "rate") == 0) {
		ret = mock_rule_uint(value, UINT64_MAX, &f->rate);
		if (ret == 0 && f->rate == 0)
			ret = -EINVAL;
	} else {
		return -ENOENT;
	}
	return ret;
}

/* Fills what the rule left unsaid and checks that it makes sense. Returns
   NULL or why it does not. */
static const char *mock_rule_finish(struct mock_rule *rule,
				    bool explicit_action)
{
	struct mock_fault *f = &rule->fault;

	if (!explicit_action) {
		if (f->status != 0 || f->code[0] != '\0')
			f->action = MOCK_FAULT_ERROR;
		else if (f->delay_ms != 0)
			f->action = MOCK_FAULT_DELAY;
		else
			return "no action (action=, status= or delay=)";
	}
	if (f->action == MOCK_FAULT_ERROR) {
		if (f->status == 0)
			f->status = 503;
		if (f->code[0] == '\0')
			snprintf(f->code, sizeof(f->code), "%s",
				 mock_status_code(f->status));
	} else if (f->status != 0 || f->code[0] != '\0') {
		return "status= and code= go with action=error";
	}
	if (f->action == MOCK_FAULT_DRIP && f->rate == 0)
		return "action=drip needs rate=BYTES_PER_SECOND";
	if (f->action == MOCK_FAULT_BADLENGTH && f->delta == 0)
		f->delta = -1;
	if (rule->rng == 0)
		rule->rng = 1;
	return NULL;
}

static int mock_rule_parse(const char *text, struct mock_rule *rule,
			   char **error_r)
{
	bool explicit_action = false;
	struct fs_kv *kv = NULL;
	const char *why;
	int i, count, ret = 0;

	count = fs_kv_split(text, ',', &kv);
	if (count <= 0)
		return mock_rule_error(error_r, text, "empty or malformed", "");
	for (i = 0; i < count && ret == 0; i++) {
		ret = mock_rule_set(rule, kv[i].name, kv[i].value,
				    &explicit_action);
		if (ret == -ENOENT)
			mock_rule_error(error_r, text, "unknown name ",
					kv[i].name);
		else if (ret < 0)
			mock_rule_error(error_r, text, "bad value for ",
					kv[i].name);
	}
	fs_kv_free(kv, count);
	if (ret < 0)
		return -EINVAL;
	why = mock_rule_finish(rule, explicit_action);
	if (why != NULL)
		return mock_rule_error(error_r, text, why, "");
	return 0;
}

int mock_faults_add(struct mock_faults *faults, const char *text,
		    char **error_r)
{
	struct mock_rule *rule, **tail;

	if (error_r != NULL)
		*error_r = NULL;
	rule = calloc(1, sizeof(*rule));
	if (rule == NULL || (rule->text = strdup(text)) == NULL) {
		free(rule);
		return -ENOMEM;
	}
	if (mock_rule_parse(text, rule, error_r) < 0) {
		mock_rule_free(rule);
		return -EINVAL;
	}
	rule->id = ++faults->next_id;
	rule->fault.rule_id = rule->id;
	for (tail = &faults->head; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = rule;
	return rule->id;
}

int mock_faults_remove(struct mock_faults *faults, int id)
{
	struct mock_rule **p, *rule;

	for (p = &faults->head; *p != NULL; p = &(*p)->next) {
		if ((*p)->id == id) {
			rule = *p;
			*p = rule->next;
			mock_rule_free(rule);
			return 0;
		}
	}
	return -ENOENT;
}

void mock_faults_clear(struct mock_faults *faults)
{
	struct mock_rule *rule;

	while ((rule = faults->head) != NULL) {
		faults->head = rule->next;
		mock_rule_free(rule);
	}
}

void mock_faults_list(struct mock_faults *faults, struct mock_buf *out)
{
	struct mock_rule *rule;

	for (rule = faults->head; rule != NULL; rule = rule->next)
		mock_buf_printf(out, "%d %s\n", rule->id, rule->text);
}

static bool mock_glob(const char *pattern, const char *str)
{
	if (pattern == NULL)
		return true;
	return str != NULL && fnmatch(pattern, str, 0) == 0;
}

static bool mock_rule_matches(const struct mock_rule *rule, const char *method,
			      const char *op, const char *bucket,
			      const char *key)
{
	if (rule->method != NULL && strcasecmp(rule->method, method) != 0)
		return false;
	if (rule->op != NULL && (op == NULL || strcmp(rule->op, op) != 0))
		return false;
	return mock_glob(rule->bucket, bucket) && mock_glob(rule->key, key);
}

static bool mock_rule_fires(struct mock_rule *rule)
{
	double draw;

	if (rule->times != 0 && rule->fired >= rule->times)
		return false;
	rule->matched++;
	if (rule->nth != 0 && rule->matched % rule->nth != 0)
		return false;
	if (rule->has_p) {
		draw = (double)(mock_rng_next(&rule->rng) >> 11) *
		       (1.0 / 9007199254740992.0);
		if (draw >= rule->p)
			return false;
	}
	rule->fired++;
	return true;
}

bool mock_faults_match(struct mock_faults *faults, const char *method,
		       const char *op, const char *bucket, const char *key,
		       struct mock_fault *fault_r)
{
	struct mock_rule *rule;

	for (rule = faults->head; rule != NULL; rule = rule->next) {
		if (!mock_rule_matches(rule, method, op, bucket, key))
			continue;
		if (mock_rule_fires(rule)) {
			*fault_r = rule->fault;
			return true;
		}
	}
	return false;
}
