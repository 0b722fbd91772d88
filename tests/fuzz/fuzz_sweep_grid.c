// fuzz_sweep_grid.c - core/analysis/sweep.c sweep_grid_load: the input is one grid
// file (experiments/README.md). Every configuration of a grid that loads is
// checked and its policy created again from the expanded parameters.
#include "fuzz_util.h"
#include "policy.h"
#include "analysis/sweep.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("grid.json", data, size);
    sweep_grid g;
    if (fuzz_note(sweep_grid_load(&g, path), "sweep_grid_load") != STATUS_OK) return 0;
    if (!g.name || g.n_configs == 0) abort();
    for (size_t i = 0; i < g.n_configs && i < 64; i++) {
        const sweep_config *c = &g.configs[i];
        if (!c->policy || !c->params_text || c->k == 0) abort();
        policy *p = NULL;
        if (policy_create(c->policy, c->params, &p) != STATUS_OK) abort(); // validated by load
        policy_free(p);
        cJSON *back = cJSON_Parse(c->params_text);
        if (!back) abort(); // params_text is JSON
        cJSON_Delete(back);
    }
    sweep_grid_free(&g);
    return 0;
}
