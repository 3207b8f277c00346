/* Named request counters, kept sorted by name. The caller holds mock->lock. */
#include <stdlib.h>
#include <string.h>

#include "mock-private.h"

struct mock_counter {
	char *name;
	uint64_t value;
};

/* Returns the index of name, or of where it would go (*found_r false). */
static size_t mock_counters_find(const struct mock_counters *counters,
				 const char *name, bool *found_r)
{
	size_t lo = 0, hi = counters->count, mid;
	int cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(counters->items[mid].name, name);
		if (cmp == 0) {
			*found_r = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = false;
	return lo;
}

static bool mock_counters_grow(struct mock_counters *counters)
{
	struct mock_counter *items;
	size_t alloc;

	if (counters->count < counters->alloc)
		return true;
	alloc = counters->alloc == 0 ? 32 : counters->alloc * 2;
	items = realloc(counters->items, alloc * sizeof(*items));
	if (items == NULL)
		return false;
	counters->items = items;
	counters->alloc = alloc;
	return true;
}

void mock_counters_add(struct mock_counters *counters, const char *name,
		       uint64_t n)
{
	bool found;
	size_t i = mock_counters_find(counters, name, &found);
	char *copy;

	if (found) {
		counters->items[i].value += n;
		return;
	}
	/* A counter that cannot be added is lost: counting never fails a
	   request. */
	if (!mock_counters_grow(counters) || (copy = strdup(name)) == NULL)
		return;
	memmove(counters->items + i + 1, counters->items + i,
		(counters->count - i) * sizeof(*counters->items));
	counters->items[i].name = copy;
	counters->items[i].value = n;
	counters->count++;
}

uint64_t mock_counters_get(const struct mock_counters *counters,
			   const char *name)
{
	bool found;
	size_t i = mock_counters_find(counters, name, &found);

	return found ? counters->items[i].value : 0;
}

void mock_counters_reset(struct mock_counters *counters)
{
	size_t i;

	for (i = 0; i < counters->count; i++)
		counters->items[i].value = 0;
}

void mock_counters_json(const struct mock_counters *counters,
			struct mock_buf *out)
{
	size_t i;

	mock_buf_str(out, "{");
	for (i = 0; i < counters->count; i++) {
		mock_buf_str(out, i == 0 ? "\n  " : ",\n  ");
		mock_buf_json(out, counters->items[i].name);
		mock_buf_printf(out, ": %llu",
				(unsigned long long)counters->items[i].value);
	}
	mock_buf_str(out, "\n}\n");
}

void mock_counters_free(struct mock_counters *counters)
{
	size_t i;

	for (i = 0; i < counters->count; i++)
		free(counters->items[i].name);
	free(counters->items);
	memset(counters, 0, sizeof(*counters));
}
