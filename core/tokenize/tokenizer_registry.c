// tokenizer_registry.c - the registered tokenizers, one line each. A new
// tokenizer is one file exposing its tokenizer_ops plus one line here.
#include "tokenize/tokenizer.h"

#include "tokenize/tokenizer_impl.h"

#include <string.h>

static const tokenizer_ops *const registry[] = {
    &tokenizer_ops_wordpiece_bert,
    &tokenizer_ops_bpe_qwen3,
    NULL,
};

const tokenizer_ops *tokenizer_find(const char *name) {
    if (!name) return NULL;
    for (const tokenizer_ops *const *p = registry; *p; p++)
        if (strcmp((*p)->name, name) == 0) return *p;
    return NULL;
}

const tokenizer_ops *const *tokenizer_list(void) {
    return registry;
}
