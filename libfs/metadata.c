/*
 * Metadata lists: small name/value arrays, kept unsorted while they are
 * built and sorted by name before they are handed to an application.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs-private.h"

static struct fs_metadata *list_lookup(const struct fs_metadata_list *list,
				       const char *name)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		if (strcmp(list->items[i].name, name) == 0)
			return &list->items[i];
	}
	return NULL;
}

static int list_grow(struct fs_metadata_list *list)
{
	struct fs_metadata *items;
	size_t alloc;

	if (list->count < list->alloc)
		return 0;
	alloc = list->alloc == 0 ? 8 : list->alloc * 2;
	items = realloc(list->items, alloc * sizeof(*items));
	if (items == NULL)
		return -ENOMEM;
	list->items = items;
	list->alloc = alloc;
	return 0;
}

int fs_metadata_list_set(struct fs_metadata_list *list, const char *name,
			 const char *value)
{
	struct fs_metadata *md = list_lookup(list, name);
	char *name_copy, *value_copy = strdup(value);

	if (value_copy == NULL)
		return -ENOMEM;
	if (md != NULL) {
		free((char *)md->value);
		md->value = value_copy;
		return 0;
	}
	name_copy = strdup(name);
	if (name_copy == NULL || list_grow(list) < 0) {
		free(name_copy);
		free(value_copy);
		return -ENOMEM;
	}
	list->items[list->count].name = name_copy;
	list->items[list->count].value = value_copy;
	list->count++;
	return 0;
}

void fs_metadata_list_clear(struct fs_metadata_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		free((char *)list->items[i].name);
		free((char *)list->items[i].value);
	}
	free(list->items);
	list->items = NULL;
	list->count = 0;
	list->alloc = 0;
}

int fs_metadata_list_copy(struct fs_metadata_list *dst,
			  const struct fs_metadata_list *src)
{
	size_t i;
	int ret;

	for (i = 0; i < src->count; i++) {
		ret = fs_metadata_list_set(dst, src->items[i].name,
					   src->items[i].value);
		if (ret < 0)
			return ret;
	}
	return 0;
}

bool fs_metadata_list_equal(const struct fs_metadata_list *a,
			    const struct fs_metadata_list *b)
{
	const struct fs_metadata *md;
	size_t i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++) {
		md = list_lookup(b, a->items[i].name);
		if (md == NULL || strcmp(md->value, a->items[i].value) != 0)
			return false;
	}
	return true;
}

int fs_file_metadata_add(struct fs_file *file, const char *name,
			 const char *value)
{
	return fs_metadata_list_set(&file->read_md, name, value);
}

static int metadata_cmp(const void *p1, const void *p2)
{
	const struct fs_metadata *md1 = p1, *md2 = p2;

	return strcmp(md1->name, md2->name);
}

void fs_metadata_list_sort(struct fs_metadata_list *list)
{
	if (list->count > 1)
		qsort(list->items, list->count, sizeof(*list->items),
		      metadata_cmp);
}

const char *fs_metadata_list_find(const struct fs_metadata_list *list,
				  const char *name)
{
	const struct fs_metadata *md = list_lookup(list, name);

	return md != NULL ? md->value : NULL;
}

size_t fs_metadata_list_size(const struct fs_metadata_list *list)
{
	size_t i, size = 0;

	for (i = 0; i < list->count; i++)
		size += strlen(list->items[i].name) +
			strlen(list->items[i].value);
	return size;
}

static bool metadata_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > FS_METADATA_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool metadata_value_valid(const char *value)
{
	size_t i, len = strlen(value);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return fs_utf8_valid(value, len);
}

int fs_metadata_validate(const char *name, const char *value)
{
	if (name == NULL || !metadata_name_valid(name))
		return -EINVAL;
	if (value != NULL && !metadata_value_valid(value))
		return -EINVAL;
	return 0;
}
