// fuzz_bpe.c - core/tokenize/bpe.c: a Qwen2/Qwen3 byte-level BPE tokenizer folder.
// Input: tokenizer.json [FUZZ_SEPARATOR text]; with four parts the folder
// holds vocab.json + merges.txt + tokenizer_config.json instead (vocab.json
// SEP text SEP merges.txt SEP tokenizer_config.json). A tokenizer that loads
// encodes the text (or a fixed text), with and without a limit, and decodes
// the ids.
#include "tokenize/bpe.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_text[] =
    "Hello, WORLD! it's 2026 <|im_start|>user\n naïve café 你好\r\n\n  "
    "\xf0\x9f\x98\x80 end<|im_end|>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part parts[4];
    size_t n = fuzz_split(data, size, parts, 4);
    fuzz_remove("tokenizer.json");
    fuzz_remove("vocab.json");
    fuzz_remove("merges.txt");
    fuzz_remove("tokenizer_config.json");
    if (n < 4) {
        fuzz_write("tokenizer.json", parts[0].data, parts[0].size);
    } else {
        fuzz_write("vocab.json", parts[0].data, parts[0].size);
        fuzz_write("merges.txt", parts[2].data, parts[2].size);
        fuzz_write("tokenizer_config.json", parts[3].data, parts[3].size);
    }
    bpe tok;
    if (fuzz_note(bpe_load(&tok, fuzz_dir()), "bpe_load") != STATUS_OK) return 0;
    char *text = n > 1 ? fuzz_strndup(parts[1].data, parts[1].size)
                       : fuzz_strndup((const uint8_t *)fixed_text, sizeof fixed_text - 1);
    size_t len = n > 1 ? parts[1].size : sizeof fixed_text - 1;
    bpe_encoding enc = {0};
    if (bpe_encode(&tok, text, len, &enc) == STATUS_OK) {
        for (size_t i = 0; i < enc.len; i++)
            if (enc.ids[i] < 0 || (size_t)enc.ids[i] >= tok.vocab_size) abort();
        char *back;
        size_t back_len;
        if (bpe_decode(&tok, enc.ids, enc.len, &back, &back_len) == STATUS_OK) free(back);
    }
    (void)bpe_encode_limit(&tok, text, len, 3, &enc);
    int32_t id;
    (void)bpe_token_to_id(&tok, text, len, &id);
    (void)bpe_id_to_token(&tok, -1);
    (void)bpe_id_to_token(&tok, (int32_t)tok.vocab_size);
    bpe_encoding_free(&enc);
    free(text);
    bpe_free(&tok);
    return 0;
}
