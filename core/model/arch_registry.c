// The registered model families, one line each (core/model/arch.h).
#include "model/arch.h"

#include <string.h>

// One line per family: ARCH_FAMILY(x) registers `const arch_ops arch_ops_x`
// (core/model/x/x.c). The list is expanded twice (declarations, then the
// table), so a family's line is the only thing to add; every line ends in a
// backslash, the list in the comment line.
#define ARCH_FAMILIES(ARCH_FAMILY)                                                                 \
    ARCH_FAMILY(bert)  /* BertForSequenceClassification cross-encoders */                          \
    ARCH_FAMILY(qwen3) /* Qwen3-Reranker (Qwen3ForCausalLM, yes/no logits) */                      \
    /* end of the list */

#define ARCH_DECLARE(x) extern const arch_ops arch_ops_##x;
#define ARCH_ENTRY(x)   &arch_ops_##x,
ARCH_FAMILIES(ARCH_DECLARE)

static const arch_ops *const arch_registry[] = {ARCH_FAMILIES(ARCH_ENTRY) NULL};

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
