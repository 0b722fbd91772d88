// The registered model families, one line each (core/model/arch.h).
#include "model/arch.h"

#include <string.h>

extern const arch_ops arch_ops_bert;
extern const arch_ops arch_ops_qwen3;

static const arch_ops *const arch_registry[] = {
    &arch_ops_bert,  // BertForSequenceClassification cross-encoders
    &arch_ops_qwen3, // Qwen3-Reranker (Qwen3ForCausalLM, yes/no logits)
    NULL,
};

const arch_ops *const *arch_list(void) {
    return arch_registry;
}

const arch_ops *arch_find(const char *hf_name) {
    for (const arch_ops *const *a = arch_registry; *a; a++)
        for (const char *const *n = (*a)->hf_architectures; *n; n++)
            if (strcmp(*n, hf_name) == 0) return *a;
    return NULL;
}

const arch_ops *arch_find_family(const char *name) {
    for (const arch_ops *const *a = arch_registry; *a; a++)
        if (strcmp((*a)->name, name) == 0) return *a;
    return NULL;
}

const char *arch_refused_reason(const char *hf_name) {
    for (const arch_ops *const *a = arch_registry; *a; a++)
        for (const char *const *n = (*a)->hf_refused; n && *n; n += 2)
            if (strcmp(n[0], hf_name) == 0) return n[1];
    return NULL;
}
