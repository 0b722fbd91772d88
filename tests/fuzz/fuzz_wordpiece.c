// fuzz_wordpiece.c - core/tokenize/wordpiece.c: a BERT tokenizer folder.
// Input: tokenizer.json [FUZZ_SEPARATOR text]. When the first part does not
// start with '{' the folder instead holds vocab.txt = part 1 and, when there
// is a third part, tokenizer_config.json = part 3 (vocab.txt SEP text SEP
// tokenizer_config.json). A tokenizer that loads encodes the text (or a fixed
// text) as a single sequence and as a pair, and every id maps back to a token.
#include "fuzz_util.h"
#include "tokenize/wordpiece.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_text[] = "Hello, WORLD! unaffable naïve café [SEP] 你好 x[MASK]y "
                                 "\xe2\x80\x8b\t\r\n tokenization's end.";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part parts[3];
    size_t n = fuzz_split(data, size, parts, 3);
    fuzz_remove("tokenizer.json");
    fuzz_remove("vocab.txt");
    fuzz_remove("tokenizer_config.json");
    if (parts[0].size > 0 && parts[0].data[0] == '{') {
        fuzz_write("tokenizer.json", parts[0].data, parts[0].size);
    } else {
        fuzz_write("vocab.txt", parts[0].data, parts[0].size);
        if (n > 2) fuzz_write("tokenizer_config.json", parts[2].data, parts[2].size);
    }
    wordpiece wp;
    if (fuzz_note(wordpiece_load(&wp, fuzz_dir()), "wordpiece_load") != STATUS_OK) return 0;
    char *text = n > 1 ? fuzz_strndup(parts[1].data, parts[1].size)
                       : fuzz_strndup((const uint8_t *)fixed_text, sizeof fixed_text - 1);
    size_t len = n > 1 ? parts[1].size : sizeof fixed_text - 1;
    wordpiece_encoding enc = {0};
    const size_t max_lens[] = {512, 8, 3};
    for (size_t m = 0; m < sizeof max_lens / sizeof max_lens[0]; m++) {
        if (wordpiece_encode_single(&wp, text, len, max_lens[m], &enc) == STATUS_OK)
            for (size_t i = 0; i < enc.len; i++)
                if (enc.ids[i] < 0 || (size_t)enc.ids[i] >= wp.vocab_size ||
                    !wordpiece_id_to_token(&wp, enc.ids[i]))
                    abort();
        size_t half = len / 2;
        if (wordpiece_encode_pair(&wp, text, half, text + half, len - half, max_lens[m], &enc) ==
            STATUS_OK) {
            if (enc.len > max_lens[m]) abort();
            for (size_t i = 0; i < enc.len; i++)
                if (enc.ids[i] < 0 || (size_t)enc.ids[i] >= wp.vocab_size) abort();
        }
    }
    (void)wordpiece_encode_text(&wp, text, len, &enc);
    int32_t id;
    (void)wordpiece_token_to_id(&wp, text, len, &id);
    (void)wordpiece_id_to_token(&wp, -1);
    (void)wordpiece_id_to_token(&wp, (int32_t)wp.vocab_size);
    wordpiece_encoding_free(&enc);
    free(text);
    wordpiece_free(&wp);
    return 0;
}
