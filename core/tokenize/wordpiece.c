#include "tokenize/wordpiece.h"

#include "base/json_file.h"
#include "tokenize/hf_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

// Ids above this are rejected as corrupt rather than sizing a huge table.
#define WORDPIECE_MAX_ID (1 << 24)

// ---------------------------------------------------------------------------
// Loading

// One (token, id) pair while the tables are being built.
typedef struct {
    const char *text;
    size_t len;
    int64_t id;
} vocab_entry;

typedef struct {
    vocab_entry *items;
    size_t len, cap;
} vocab_list;

static status vocab_list_push(vocab_list *l, const char *text, size_t len, int64_t id) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        vocab_entry *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return status_fail(STATUS_ERR_NOMEM, "vocabulary of %zu entries: out of memory", cap);
        l->items = p;
        l->cap = cap;
    }
    l->items[l->len++] = (vocab_entry){text, len, id};
    return STATUS_OK;
}

// Special token names: the BERT defaults, or what tokenizer_config.json says.
typedef struct {
    const char *cls, *sep, *pad, *unk, *mask;
    int do_lower_case;    // -1 = not given
    int strip_accents;    // -1 = not given (null: follow lowercase)
    int tokenize_chinese; // -1 = not given
} tokenizer_config;

// A token name in tokenizer_config.json: a string, or (older files) an object
// {"content": "..."}.
static status config_token_name(const cJSON *root, const char *key, const char *what,
                                const char **out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item || cJSON_IsNull(item)) return STATUS_OK;
    if (cJSON_IsString(item)) {
        *out = item->valuestring;
        return STATUS_OK;
    }
    if (cJSON_IsObject(item)) return json_get_string(item, "content", what, out);
    return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected a string", what, key);
}

// Reads tokenizer_config.json when present. *root keeps the strings alive.
static status config_read(const char *dir, tokenizer_config *cfg, cJSON **root) {
    *cfg = (tokenizer_config){"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", -1, -1, -1};
    *root = NULL;
    char path[4200];
    hf_path_join(path, sizeof path, dir, "tokenizer_config.json");
    if (!hf_file_exists(path)) return STATUS_OK;
    status st = json_file_parse(path, root);
    if (st != STATUS_OK) return st;
    if (!cJSON_IsObject(*root))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
    const char *names[] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
    const char **slots[] = {&cfg->cls, &cfg->sep, &cfg->pad, &cfg->unk, &cfg->mask};
    for (size_t i = 0; i < 5; i++) {
        st = config_token_name(*root, names[i], path, slots[i]);
        if (st != STATUS_OK) return st;
    }
    st = json_opt_bool(*root, "do_lower_case", path, &cfg->do_lower_case);
    if (st == STATUS_OK) st = json_opt_bool(*root, "strip_accents", path, &cfg->strip_accents);
    if (st == STATUS_OK)
        st = json_opt_bool(*root, "tokenize_chinese_chars", path, &cfg->tokenize_chinese);
    return st;
}

// Builds the token -> id map and the id -> token table from the model
// vocabulary plus the added tokens (which may have ids of their own).
static status vocab_build(wordpiece *wp, const vocab_list *model, const vocab_list *extra) {
    int64_t max_id = -1;
    size_t bytes = 0;
    const vocab_list *lists[2] = {model, extra};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->len; i++) {
            const vocab_entry *e = &lists[l]->items[i];
            if (e->id < 0 || e->id >= WORDPIECE_MAX_ID)
                return status_fail(STATUS_ERR_FORMAT,
                                   "%s: token '%.*s' has id %lld (expected 0..%d)", wp->source,
                                   (int)(e->len > 64 ? 64 : e->len), e->text, (long long)e->id,
                                   WORDPIECE_MAX_ID - 1);
            if (e->id > max_id) max_id = e->id;
            bytes += e->len + 1;
        }
    }
    if (model->len == 0) return status_fail(STATUS_ERR_FORMAT, "%s: empty vocabulary", wp->source);
    wp->vocab_size = (size_t)max_id + 1;
    wp->id_to_token = calloc(wp->vocab_size, sizeof *wp->id_to_token);
    wp->token_blob = malloc(bytes);
    if (!wp->id_to_token || !wp->token_blob)
        return status_fail(STATUS_ERR_NOMEM, "%s: vocabulary of %zu ids: out of memory", wp->source,
                           wp->vocab_size);
    status st = strmap_init(&wp->vocab, model->len);
    if (st != STATUS_OK) return st;
    char *p = wp->token_blob;
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->len; i++) {
            const vocab_entry *e = &lists[l]->items[i];
            memcpy(p, e->text, e->len);
            p[e->len] = '\0';
            // Model entries first: an added token never renames a vocabulary id.
            if (!wp->id_to_token[e->id]) wp->id_to_token[e->id] = p;
            p += e->len + 1;
            if (l == 0) {
                st = strmap_put(&wp->vocab, e->text, e->len, e->id);
                if (st != STATUS_OK) return st;
                if (e->len > wp->max_token_bytes) wp->max_token_bytes = e->len;
            }
        }
    }
    return STATUS_OK;
}

// Id of a required special token, looked up among the model vocabulary and
// the added tokens.
static status special_id(wordpiece *wp, const vocab_list *extra, const char *name, int required,
                         int32_t *out) {
    int64_t id;
    if (strmap_get(&wp->vocab, name, strlen(name), &id)) {
        *out = (int32_t)id;
        return STATUS_OK;
    }
    for (size_t i = 0; i < extra->len; i++) {
        if (extra->items[i].len == strlen(name) &&
            memcmp(extra->items[i].text, name, extra->items[i].len) == 0) {
            *out = (int32_t)extra->items[i].id;
            return STATUS_OK;
        }
    }
    *out = -1;
    if (!required) return STATUS_OK;
    return status_fail(STATUS_ERR_MISSING, "%s: special token '%s' is not in the vocabulary",
                       wp->source, name);
}

static status added_push(wordpiece *wp, const char *content, int32_t id, int single_word,
                         int lstrip, int rstrip, int normalized) {
    size_t len = strlen(content);
    if (len == 0) return STATUS_OK; // HF ignores empty added tokens
    bert_codepoints raw = {0}, norm = {0};
    status st = bert_normalizer_decode_utf8(content, len, &raw);
    if (st != STATUS_OK) {
        bert_codepoints_free(&raw);
        return status_wrap(st, "%s: added token '%s'", wp->source, content);
    }
    if (normalized) {
        // HF matches normalized tokens by their normalized form.
        st = bert_normalizer_apply(&wp->normalizer, raw.data, raw.len, &norm);
        bert_codepoints_free(&raw);
        if (st != STATUS_OK) {
            bert_codepoints_free(&norm);
            return st;
        }
        raw = norm;
    }
    st = hf_added_matcher_add(&wp->added, raw.data, raw.len, id, single_word, lstrip, rstrip,
                              normalized);
    bert_codepoints_free(&raw);
    if (st != STATUS_OK)
        return status_fail(STATUS_ERR_NOMEM, "%s: added tokens: out of memory", wp->source);
    return STATUS_OK;
}

static status load_normalizer(wordpiece *wp, const cJSON *root) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    wp->normalizer = (bert_normalizer){0, 0, 0, 0};
    if (!n || cJSON_IsNull(n)) return STATUS_OK;
    char what[4200];
    snprintf(what, sizeof what, "%s: normalizer", wp->source);
    const char *type;
    status st = hf_json_component_type(n, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "BertNormalizer") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: normalizer type '%s' is not supported (expected BertNormalizer)",
                           wp->source, type);
    int clean = 1, chinese = 1, strip = -1, lower = 1;
    st = json_opt_bool(n, "clean_text", what, &clean);
    if (st == STATUS_OK) st = json_opt_bool(n, "handle_chinese_chars", what, &chinese);
    if (st == STATUS_OK) st = json_opt_bool(n, "strip_accents", what, &strip);
    if (st == STATUS_OK) st = json_opt_bool(n, "lowercase", what, &lower);
    if (st != STATUS_OK) return st;
    wp->normalizer = (bert_normalizer){clean, chinese, strip < 0 ? lower : strip, lower};
    return STATUS_OK;
}

// One element of a TemplateProcessing template.
static status template_piece(const cJSON *item, const char *what, int *special, const char **id,
                             int64_t *type_id) {
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
    *special = body != NULL;
    if (!body) body = cJSON_GetObjectItemCaseSensitive(item, "Sequence");
    if (!cJSON_IsObject(body))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected SpecialToken or Sequence pieces", what);
    status st = json_get_string(body, "id", what, id);
    if (st == STATUS_OK) st = json_get_int(body, "type_id", what, type_id);
    return st;
}

// Checks that a template is [CLS] $A [SEP] (single) or [CLS] $A [SEP] $B:1 [SEP]:1
// (pair) and returns the names used for [CLS] and [SEP].
static status template_check(const cJSON *tmpl, int pair, const char *what, const char **cls,
                             const char **sep) {
    static const struct {
        int special;
        const char *seq;
        int type_id;
    } want[] = {{1, NULL, 0}, {0, "A", 0}, {1, NULL, 0}, {0, "B", 1}, {1, NULL, 1}};
    size_t n = pair ? 5 : 3;
    if (!cJSON_IsArray(tmpl) || (size_t)cJSON_GetArraySize(tmpl) != n) goto unsupported;
    for (size_t i = 0; i < n; i++) {
        int special;
        const char *id;
        int64_t type_id;
        status st = template_piece(cJSON_GetArrayItem(tmpl, (int)i), what, &special, &id, &type_id);
        if (st != STATUS_OK) return st;
        if (special != want[i].special || type_id != want[i].type_id) goto unsupported;
        if (!special && strcmp(id, want[i].seq) != 0) goto unsupported;
        if (special && i == 0) *cls = id;
        if (special && i == 2) *sep = id;
        if (special && i == 4 && strcmp(id, *sep) != 0) goto unsupported;
    }
    return STATUS_OK;
unsupported:
    return status_fail(STATUS_ERR_UNSUPPORTED,
                       "%s: template is not the BERT layout [CLS] $A:0 [SEP]:0 $B:1 [SEP]:1", what);
}

// The id TemplateProcessing.special_tokens gives a special token name.
static status template_special_id(const cJSON *pp, const char *name, const char *what,
                                  int64_t *id) {
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    const cJSON *entry = cJSON_IsObject(map) ? cJSON_GetObjectItemCaseSensitive(map, name) : NULL;
    const cJSON *ids = entry ? cJSON_GetObjectItemCaseSensitive(entry, "ids") : NULL;
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) != 1 ||
        !json_number_int(cJSON_GetArrayItem(ids, 0), 0, WORDPIECE_MAX_ID - 1, id))
        return status_fail(STATUS_ERR_FORMAT, "%s: special_tokens['%s']: expected one id in 0..%d",
                           what, name, WORDPIECE_MAX_ID - 1);
    return STATUS_OK;
}

// Reads the post-processor: it names [CLS]/[SEP] and fixes their ids.
static status load_post_processor(wordpiece *wp, const cJSON *root, const char **cls,
                                  const char **sep, int64_t *cls_id, int64_t *sep_id) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    char what[4200];
    snprintf(what, sizeof what, "%s: post_processor", wp->source);
    if (!pp || cJSON_IsNull(pp))
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s is null (expected TemplateProcessing or BertProcessing adding "
                           "[CLS] and [SEP])",
                           what);
    const char *type;
    status st = hf_json_component_type(pp, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "TemplateProcessing") == 0) {
        const char *cls2 = NULL, *sep2 = NULL;
        st = template_check(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0, what, cls, sep);
        if (st == STATUS_OK)
            st =
                template_check(cJSON_GetObjectItemCaseSensitive(pp, "pair"), 1, what, &cls2, &sep2);
        if (st != STATUS_OK) return st;
        if (strcmp(*cls, cls2) != 0 || strcmp(*sep, sep2) != 0)
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: single and pair templates use different special tokens", what);
        st = template_special_id(pp, *cls, what, cls_id);
        if (st == STATUS_OK) st = template_special_id(pp, *sep, what, sep_id);
        return st;
    }
    if (strcmp(type, "BertProcessing") == 0) {
        const char *keys[2] = {"cls", "sep"};
        const char **names[2] = {cls, sep};
        int64_t *ids[2] = {cls_id, sep_id};
        for (int i = 0; i < 2; i++) {
            const cJSON *pairv = cJSON_GetObjectItemCaseSensitive(pp, keys[i]);
            if (!cJSON_IsArray(pairv) || cJSON_GetArraySize(pairv) != 2 ||
                !cJSON_IsString(cJSON_GetArrayItem(pairv, 0)) ||
                !json_number_int(cJSON_GetArrayItem(pairv, 1), 0, WORDPIECE_MAX_ID - 1, ids[i]))
                return status_fail(STATUS_ERR_FORMAT,
                                   "%s: key '%s': expected [token, id] with an id in 0..%d", what,
                                   keys[i], WORDPIECE_MAX_ID - 1);
            *names[i] = cJSON_GetArrayItem(pairv, 0)->valuestring;
        }
        return STATUS_OK;
    }
    return status_fail(STATUS_ERR_UNSUPPORTED,
                       "%s: type '%s' is not supported (expected TemplateProcessing or "
                       "BertProcessing)",
                       what, type);
}

static status load_added_tokens(wordpiece *wp, const cJSON *root, vocab_list *extra) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!arr || cJSON_IsNull(arr)) return STATUS_OK;
    char what[4200];
    snprintf(what, sizeof what, "%s: added_tokens", wp->source);
    if (!cJSON_IsArray(arr)) return status_fail(STATUS_ERR_FORMAT, "%s: expected an array", what);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        hf_added_token a = {0};
        status st = hf_json_added_token_read(item, what, &a);
        if (st == STATUS_OK) st = json_get_int(item, "id", what, &a.id);
        if (st == STATUS_OK && (a.id < 0 || a.id >= WORDPIECE_MAX_ID))
            st = status_fail(STATUS_ERR_FORMAT, "%s: token '%s' has id %lld (expected 0..%d)", what,
                             a.content, (long long)a.id, WORDPIECE_MAX_ID - 1);
        if (st == STATUS_OK) st = vocab_list_push(extra, a.content, strlen(a.content), a.id);
        if (st == STATUS_OK)
            st = added_push(wp, a.content, (int32_t)a.id, a.single_word, a.lstrip, a.rstrip,
                            a.normalized);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

static status load_tokenizer_json(wordpiece *wp, const char *path, const tokenizer_config *cfg) {
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    vocab_list model = {0}, extra = {0};
    char what[4200];
    snprintf(what, sizeof what, "%s: model", path);
    const char *type, *unk = "[UNK]", *prefix = "##", *cls = NULL, *sep = NULL;
    const char *pad = cfg->pad;
    int64_t max_chars = 100, cls_id = -1, sep_id = -1;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "vocab") : NULL;
    if (!cJSON_IsObject(root)) {
        st = status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    if (!cJSON_IsObject(m)) {
        st = status_fail(STATUS_ERR_FORMAT, "%s: key 'model': expected an object", path);
        goto done;
    }
    st = json_get_string(m, "type", what, &type);
    if (st != STATUS_OK) goto done;
    if (strcmp(type, "WordPiece") != 0) {
        st = status_fail(STATUS_ERR_UNSUPPORTED,
                         "%s: model type '%s' is not supported (expected WordPiece)", path, type);
        goto done;
    }
    st = json_opt_string(m, "unk_token", what, &unk);
    if (st == STATUS_OK) st = json_opt_string(m, "continuing_subword_prefix", what, &prefix);
    if (st == STATUS_OK) st = json_opt_int(m, "max_input_chars_per_word", what, &max_chars);
    if (st != STATUS_OK) goto done;
    if (max_chars < 0) {
        st = status_fail(STATUS_ERR_FORMAT, "%s: max_input_chars_per_word %lld is negative", what,
                         (long long)max_chars);
        goto done;
    }
    if (!cJSON_IsObject(vocab)) {
        st = status_fail(STATUS_ERR_FORMAT, "%s: key 'vocab': expected an object of token ids",
                         what);
        goto done;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        int64_t v;
        if (!json_number_int(item, 0, WORDPIECE_MAX_ID - 1, &v)) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: vocab['%s']: expected an integer id in 0..%d",
                             what, item->string, WORDPIECE_MAX_ID - 1);
            goto done;
        }
        st = vocab_list_push(&model, item->string, strlen(item->string), v);
        if (st != STATUS_OK) goto done;
    }

    st = load_normalizer(wp, root);
    if (st != STATUS_OK) goto done;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const char *pre_type = "null";
    if (cJSON_IsObject(pre)) {
        snprintf(what, sizeof what, "%s: pre_tokenizer", path);
        st = hf_json_component_type(pre, what, &pre_type);
        if (st != STATUS_OK) goto done;
    }
    if (strcmp(pre_type, "BertPreTokenizer") != 0) {
        st = status_fail(STATUS_ERR_UNSUPPORTED,
                         "%s: pre_tokenizer '%s' is not supported (expected BertPreTokenizer)",
                         path, pre_type);
        goto done;
    }
    st = load_post_processor(wp, root, &cls, &sep, &cls_id, &sep_id);
    if (st != STATUS_OK) goto done;
    const cJSON *padding = cJSON_GetObjectItemCaseSensitive(root, "padding");
    if (cJSON_IsObject(padding)) {
        snprintf(what, sizeof what, "%s: padding", path);
        st = json_opt_string(padding, "pad_token", what, &pad);
        if (st != STATUS_OK) goto done;
    }
    st = load_added_tokens(wp, root, &extra);
    if (st != STATUS_OK) goto done;

    wp->prefix = strdup(prefix);
    if (!wp->prefix) {
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    wp->prefix_len = strlen(prefix);
    wp->max_input_chars_per_word = (size_t)max_chars;
    st = vocab_build(wp, &model, &extra);
    if (st != STATUS_OK) goto done;

    // WordPiece falls back to the model's own [UNK]; the template's ids win for
    // [CLS]/[SEP] but must agree with the vocabulary.
    int64_t unk_id;
    if (!strmap_get(&wp->vocab, unk, strlen(unk), &unk_id)) {
        st = status_fail(STATUS_ERR_MISSING, "%s: special token '%s' is not in the vocabulary",
                         path, unk);
        goto done;
    }
    wp->unk_id = (int32_t)unk_id;
    const char *names[2] = {cls, sep};
    int64_t pp_ids[2] = {cls_id, sep_id};
    int32_t *slots[2] = {&wp->cls_id, &wp->sep_id};
    for (int i = 0; i < 2; i++) {
        st = special_id(wp, &extra, names[i], 1, slots[i]);
        if (st != STATUS_OK) goto done;
        if (*slots[i] != pp_ids[i]) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: post_processor gives '%s' id %lld but the vocabulary has %d",
                             path, names[i], (long long)pp_ids[i], (int)*slots[i]);
            goto done;
        }
    }
    st = special_id(wp, &extra, pad, 1, &wp->pad_id);
    if (st == STATUS_OK) st = special_id(wp, &extra, cfg->mask, 0, &wp->mask_id);
done:
    free(model.items);
    free(extra.items);
    cJSON_Delete(root);
    return st;
}

// Rust's str::trim_end: drops trailing White_Space code points.
static size_t trim_end(const char *s, size_t len) {
    while (len > 0) {
        size_t k = len - 1;
        while (k > 0 && len - k < 4 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        utf8proc_int32_t c;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)s + k, (utf8proc_ssize_t)(len - k), &c);
        if (n != (utf8proc_ssize_t)(len - k) || !bert_normalizer_is_whitespace(c)) break;
        len = k;
    }
    return len;
}

static status load_vocab_txt(wordpiece *wp, const char *path, const tokenizer_config *cfg) {
    char *text;
    size_t len;
    status st = file_read_all(path, &text, &len);
    if (st != STATUS_OK) return st;
    vocab_list model = {0}, extra = {0};
    size_t line = 0;
    for (size_t i = 0; i < len; line++) {
        const char *start = text + i;
        const char *nl = memchr(start, '\n', len - i);
        size_t n = nl ? (size_t)(nl - start) : len - i;
        i += n + (nl ? 1 : 0);
        bert_codepoints check = {0};
        st = bert_normalizer_decode_utf8(start, n, &check);
        bert_codepoints_free(&check);
        if (st != STATUS_OK) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: line %zu is not valid UTF-8", path, line + 1);
            goto done;
        }
        st = vocab_list_push(&model, start, trim_end(start, n), (int64_t)line);
        if (st != STATUS_OK) goto done;
    }
    wp->normalizer.clean_text = 1;
    wp->normalizer.lowercase = cfg->do_lower_case < 0 ? 1 : cfg->do_lower_case;
    wp->normalizer.handle_chinese_chars = cfg->tokenize_chinese < 0 ? 1 : cfg->tokenize_chinese;
    wp->normalizer.strip_accents =
        cfg->strip_accents < 0 ? wp->normalizer.lowercase : cfg->strip_accents;
    wp->prefix = strdup("##");
    if (!wp->prefix) {
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    wp->prefix_len = 2;
    wp->max_input_chars_per_word = 100;
    st = vocab_build(wp, &model, &extra);
    if (st != STATUS_OK) goto done;
    const char *names[5] = {cfg->cls, cfg->sep, cfg->pad, cfg->unk, cfg->mask};
    int32_t *slots[5] = {&wp->cls_id, &wp->sep_id, &wp->pad_id, &wp->unk_id, &wp->mask_id};
    for (int i = 0; i < 5; i++) {
        st = special_id(wp, &extra, names[i], i < 4, slots[i]);
        if (st != STATUS_OK) goto done;
        // Transformers registers the special tokens as unnormalized added tokens.
        if (*slots[i] >= 0) st = added_push(wp, names[i], *slots[i], 0, 0, 0, 0);
        if (st != STATUS_OK) goto done;
    }
done:
    free(model.items);
    free(extra.items);
    free(text);
    return st;
}

status wordpiece_load(wordpiece *wp, const char *model_dir) {
    memset(wp, 0, sizeof *wp);
    wp->added.unit = sizeof(int32_t); // added tokens are matched in code points
    wp->mask_id = -1;
    struct stat sb;
    if (stat(model_dir, &sb) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open model folder: %s", model_dir,
                           strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: not a folder (expected a model folder)", model_dir);
    tokenizer_config cfg;
    cJSON *cfg_root;
    status st = config_read(model_dir, &cfg, &cfg_root);
    if (st == STATUS_OK) {
        hf_path_join(wp->source, sizeof wp->source, model_dir, "tokenizer.json");
        if (hf_file_exists(wp->source)) {
            st = load_tokenizer_json(wp, wp->source, &cfg);
        } else {
            hf_path_join(wp->source, sizeof wp->source, model_dir, "vocab.txt");
            if (hf_file_exists(wp->source))
                st = load_vocab_txt(wp, wp->source, &cfg);
            else
                st = status_fail(STATUS_ERR_IO, "%s: no tokenizer.json or vocab.txt in the folder",
                                 model_dir);
        }
    }
    cJSON_Delete(cfg_root);
    if (st != STATUS_OK) wordpiece_free(wp);
    return st;
}

void wordpiece_free(wordpiece *wp) {
    strmap_free(&wp->vocab);
    free(wp->id_to_token);
    free(wp->token_blob);
    free(wp->prefix);
    hf_added_matcher_free(&wp->added);
    memset(wp, 0, sizeof *wp);
    wp->added.unit = sizeof(int32_t);
    wp->mask_id = -1;
}

const char *wordpiece_id_to_token(const wordpiece *wp, int32_t id) {
    if (id < 0 || (size_t)id >= wp->vocab_size) return NULL;
    return wp->id_to_token[id];
}

int wordpiece_token_to_id(const wordpiece *wp, const char *token, size_t len, int32_t *id) {
    int64_t v;
    if (!strmap_get(&wp->vocab, token, len, &v)) return 0;
    if (id) *id = (int32_t)v;
    return 1;
}

// ---------------------------------------------------------------------------
// Encoding

void wordpiece_encoding_free(wordpiece_encoding *enc) {
    free(enc->ids);
    free(enc->type_ids);
    bert_codepoints_free(&enc->raw);
    bert_codepoints_free(&enc->norm);
    free(enc->word);
    free(enc->word_bounds);
    memset(enc, 0, sizeof *enc);
}

static status enc_reserve(wordpiece_encoding *e, size_t need) {
    if (need <= e->cap) return STATUS_OK;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < need)
        cap *= 2;
    int32_t *ids = realloc(e->ids, cap * sizeof *ids);
    if (ids) e->ids = ids;
    int32_t *types = realloc(e->type_ids, cap * sizeof *types);
    if (types) e->type_ids = types;
    if (!ids || !types)
        return status_fail(STATUS_ERR_NOMEM, "encoding of %zu tokens: out of memory", cap);
    e->cap = cap;
    return STATUS_OK;
}

static status enc_push(wordpiece_encoding *e, int32_t id, int32_t type_id) {
    if (e->len == e->cap) {
        status st = enc_reserve(e, e->len + 1);
        if (st != STATUS_OK) return st;
    }
    e->ids[e->len] = id;
    e->type_ids[e->len] = type_id;
    e->len++;
    return STATUS_OK;
}

// Appends the WordPiece tokens of one pre-tokenized word (greedy longest
// match first; any position without a match makes the whole word [UNK]).
static status wordpiece_word(const wordpiece *wp, wordpiece_encoding *e, const int32_t *w, size_t n,
                             int32_t type_id) {
    if (n > wp->max_input_chars_per_word) return enc_push(e, wp->unk_id, type_id);
    size_t plen = wp->prefix_len;
    // Layout: plen spare bytes, then the word. A continuation piece is looked
    // up by writing the prefix just before it, over bytes already consumed.
    if (e->word_cap < plen + 4 * n || !e->word) {
        size_t cap = plen + 4 * n + 64;
        char *p = realloc(e->word, cap);
        if (!p) return status_fail(STATUS_ERR_NOMEM, "word of %zu characters: out of memory", n);
        e->word = p;
        e->word_cap = cap;
    }
    if (e->bounds_cap < n + 1 || !e->word_bounds) {
        size_t cap = n + 65;
        size_t *p = realloc(e->word_bounds, cap * sizeof *p);
        if (!p) return status_fail(STATUS_ERR_NOMEM, "word of %zu characters: out of memory", n);
        e->word_bounds = p;
        e->bounds_cap = cap;
    }
    char *bytes = e->word + plen;
    size_t *b = e->word_bounds;
    b[0] = 0;
    for (size_t i = 0; i < n; i++)
        b[i + 1] = b[i] + bert_normalizer_encode_utf8(w[i], bytes + b[i]);

    size_t first = e->len;
    size_t s = 0;
    while (s < n) {
        const char *key = s == 0 ? bytes : bytes + b[s] - plen;
        size_t extra = s == 0 ? 0 : plen;
        if (s > 0) memcpy(e->word + b[s], wp->prefix, plen);
        size_t t = n;
        while (t > s && b[t] - b[s] + extra > wp->max_token_bytes)
            t--;
        int64_t id = -1;
        for (; t > s; t--)
            if (strmap_get(&wp->vocab, key, b[t] - b[s] + extra, &id)) break;
        if (t == s) {
            e->len = first;
            return enc_push(e, wp->unk_id, type_id);
        }
        status st = enc_push(e, (int32_t)id, type_id);
        if (st != STATUS_OK) return st;
        s = t;
    }
    return STATUS_OK;
}

// BertPreTokenizer then WordPiece over normalized code points. Stops once
// more than `limit` tokens were appended since `base`.
static status pretokenize_words(const wordpiece *wp, wordpiece_encoding *e, const int32_t *cps,
                                size_t n, int32_t type_id, size_t base, size_t limit) {
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        int ws = i < n && bert_normalizer_is_whitespace(cps[i]);
        int punct = i < n && !ws && bert_normalizer_is_punctuation(cps[i]);
        if (i < n && !ws && !punct) continue;
        if (i > start) {
            status st = wordpiece_word(wp, e, cps + start, i - start, type_id);
            if (st != STATUS_OK) return st;
            if (e->len - base > limit) return STATUS_OK;
        }
        if (punct) {
            status st = wordpiece_word(wp, e, cps + i, 1, type_id);
            if (st != STATUS_OK) return st;
            if (e->len - base > limit) return STATUS_OK;
        }
        start = i + 1;
    }
    return STATUS_OK;
}

// Normalizes one stretch of raw text between unnormalized added tokens, then
// splits it on normalized added tokens and tokenizes the words in between.
static status encode_segment(const wordpiece *wp, wordpiece_encoding *e, const int32_t *cps,
                             size_t n, int32_t type_id, size_t base, size_t limit) {
    if (n == 0) return STATUS_OK;
    status st = bert_normalizer_apply(&wp->normalizer, cps, n, &e->norm);
    if (st != STATUS_OK) return st;
    const int32_t *s = e->norm.data;
    size_t len = e->norm.len, pos = 0, done = 0, ms, me;
    int32_t id;
    while (hf_added_next(&wp->added, 1, s, len, &pos, done, &ms, &me, &id)) {
        st = pretokenize_words(wp, e, s + done, ms - done, type_id, base, limit);
        if (st != STATUS_OK || e->len - base > limit) return st;
        st = enc_push(e, id, type_id);
        if (st != STATUS_OK || e->len - base > limit) return st;
        done = me;
    }
    return pretokenize_words(wp, e, s + done, len - done, type_id, base, limit);
}

// Appends the tokens of one text; stops early once more than `limit` were
// appended (the caller truncates), so long documents are not fully tokenized.
static status encode_append(const wordpiece *wp, wordpiece_encoding *e, const char *text,
                            size_t len, int32_t type_id, size_t limit) {
    status st = bert_normalizer_decode_utf8(text, len, &e->raw);
    if (st != STATUS_OK) return st;
    size_t base = e->len;
    const int32_t *s = e->raw.data;
    size_t n = e->raw.len, pos = 0, done = 0, ms, me;
    int32_t id;
    while (hf_added_next(&wp->added, 0, s, n, &pos, done, &ms, &me, &id)) {
        st = encode_segment(wp, e, s + done, ms - done, type_id, base, limit);
        if (st != STATUS_OK || e->len - base > limit) return st;
        st = enc_push(e, id, type_id);
        if (st != STATUS_OK || e->len - base > limit) return st;
        done = me;
    }
    return encode_segment(wp, e, s + done, n - done, type_id, base, limit);
}

// A failed call leaves an empty encoding, never a half-built one.
static status enc_fail(wordpiece_encoding *e, status st) {
    e->len = 0;
    e->n_first = 0;
    e->n_second = 0;
    e->truncated = 0;
    return st;
}

static void enc_reset(wordpiece_encoding *e) {
    e->len = 0;
    e->n_first = 0;
    e->n_second = 0;
    e->truncated = 0;
}

status wordpiece_encode_text(const wordpiece *wp, const char *text, size_t len,
                             wordpiece_encoding *out) {
    enc_reset(out);
    status st = encode_append(wp, out, text, len, 0, SIZE_MAX - 1);
    if (st != STATUS_OK) return enc_fail(out, st);
    out->n_first = out->len;
    return STATUS_OK;
}

status wordpiece_encode_single(const wordpiece *wp, const char *text, size_t len, size_t max_len,
                               wordpiece_encoding *out) {
    enc_reset(out);
    if (max_len < 2)
        return status_fail(STATUS_ERR_ARG,
                           "max_len %zu is too small: [CLS] and [SEP] alone take 2 tokens",
                           max_len);
    size_t budget = max_len - 2;
    status st = enc_push(out, wp->cls_id, 0);
    if (st == STATUS_OK) st = encode_append(wp, out, text, len, 0, budget);
    if (st != STATUS_OK) return enc_fail(out, st);
    if (out->len - 1 > budget) {
        out->len = 1 + budget;
        out->truncated = 1;
    }
    out->n_first = out->len - 1;
    st = enc_push(out, wp->sep_id, 0);
    return st == STATUS_OK ? st : enc_fail(out, st);
}

status wordpiece_encode_pair(const wordpiece *wp, const char *query, size_t query_len,
                             const char *doc, size_t doc_len, size_t max_len,
                             wordpiece_encoding *out) {
    enc_reset(out);
    if (max_len < 3)
        return status_fail(STATUS_ERR_ARG,
                           "max_len %zu is too small: [CLS] q [SEP] d [SEP] needs 3 special tokens",
                           max_len);
    size_t budget = max_len - 3;
    status st = enc_push(out, wp->cls_id, 0);
    if (st == STATUS_OK) st = encode_append(wp, out, query, query_len, 0, SIZE_MAX - 1);
    if (st != STATUS_OK) return enc_fail(out, status_wrap(st, "query"));
    size_t nq = out->len - 1;
    // Room left for the document; it is tokenized only one token past it.
    size_t room = budget > nq ? budget - nq : 0;
    st = enc_push(out, wp->sep_id, 0);
    if (st == STATUS_OK) st = encode_append(wp, out, doc, doc_len, 1, room);
    if (st != STATUS_OK) return enc_fail(out, status_wrap(st, "document"));
    size_t nd = out->len - (nq + 2);
    if (budget == 0) {
        // HF's max_length == 0 branch truncates both texts to nothing, without error.
        out->ids[1] = wp->sep_id;
        out->type_ids[1] = 0;
        out->len = 2;
        out->truncated = nq + nd > 0;
        nq = nd = 0;
    } else if (nq + nd > budget) {
        if (nq >= budget) {
            return enc_fail(
                out,
                status_fail(STATUS_ERR_ARG,
                            "query has %zu tokens: no room for the document within max_len %zu "
                            "(the query may have at most %zu)",
                            nq, max_len, budget - 1));
        }
        nd = room;
        out->len = nq + 2 + nd;
        out->truncated = 1;
    }
    out->n_first = nq;
    out->n_second = nd;
    st = enc_push(out, wp->sep_id, 1);
    return st == STATUS_OK ? st : enc_fail(out, st);
}
