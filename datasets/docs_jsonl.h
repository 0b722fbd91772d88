/*
 * docs_jsonl.h - candidate documents from a JSONL file, one JSON object per
 * line: {"text": "...", "id": "...", "title": "..."} with `text` required and
 * `id` (or BEIR's `_id`) and `title` optional. When a title is present and
 * non-empty the document text is title + " " + text (the BEIR convention
 * used by cross-encoder rerankers). Blank lines are skipped.
 *
 *     doc_list docs;
 *     if (doc_list_read_jsonl(&docs, "cands.jsonl") != STATUS_OK) ...
 *     for (size_t i = 0; i < docs.n; i++) puts(docs.items[i].text);
 *     doc_list_free(&docs);
 *
 * Errors name the file and the line: malformed JSON, not an object, missing
 * or non-string `text`, non-string `id`/`title`, an id that is empty or holds
 * whitespace (it could not be written to a TREC run: trec_check_id), an id
 * used twice, a NUL in any string (raw or \u0000: it would cut the text),
 * a directory instead of a file, and an empty file (no candidates).
 */
#ifndef GRATING_DOCS_JSONL_H
#define GRATING_DOCS_JSONL_H

#include "base/status.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct {
    char *id;   // the `id`/`_id` field, or the 0-based line index as text
    char *text; // title + " " + text, or text
} doc_item;

typedef struct {
    doc_item *items; // (n,)
    size_t n;
} doc_list;

status doc_list_read_jsonl(doc_list *docs, const char *path);
void doc_list_free(doc_list *docs);

// The text of one parsed document object, the rule every reader of documents
// shares (this file and the BEIR corpus of beir.h): title + " " + text when
// `title` is a non-empty string, else text. Fails, naming `what` (e.g.
// "corpus.jsonl: line 7"), when `text` is missing or not a string or `title`
// is present and not a string. *text is malloc'd; the caller frees it.
status doc_join_text(const cJSON *obj, const char *what, char **text);

#endif
