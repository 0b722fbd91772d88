/*
 * qwen_prompt.h - the official Qwen3-Reranker input for (instruction, query,
 * document), token for token as the model card's Transformers code builds it,
 * and the "yes" / "no" token ids whose logits give the score.
 *
 *     bpe tok;
 *     qwen_prompt qp;
 *     if (bpe_load(&tok, dir) != STATUS_OK || qwen_prompt_init(&qp, &tok) != STATUS_OK) ...
 *     qwen_prompt_encoding in = {0};                 // reusable
 *     if (qwen_prompt_encode(&qp, &tok, NULL, q, strlen(q), d, strlen(d), 8192, &in) != STATUS_OK)
 *         fprintf(stderr, "%s\n", status_message());
 *     // in.ids[0..in.len): feed the model; score = sigmoid(logit[yes_id] - logit[no_id])
 *     // at the last position, with qp.yes_id / qp.no_id.
 *     qwen_prompt_encoding_free(&in);
 *     qwen_prompt_free(&qp);
 *     bpe_free(&tok);
 *
 * The text (model card "Transformers Usage"; llama.cpp's and vLLM's
 * templates agree):
 *     prefix  <|im_start|>system\nJudge whether the Document meets the requirements based on
 *             the Query and the Instruct provided. Note that the answer can only be "yes" or
 *             "no".<|im_end|>\n<|im_start|>user\n
 *     body    <Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}
 *     suffix  <|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n
 * with the default instruction "Given a web search query, retrieve relevant
 * passages that answer the query" when none is given (NULL; an empty string
 * stays empty, as Python's `if instruction is None` does).
 *
 * Tokens: ids(prefix) + ids(body) + ids(suffix), each part tokenized on its
 * own (the official process_inputs encodes prefix and suffix once, the body
 * per pair). The body alone is truncated on the right to
 * max_len - len(prefix ids) - len(suffix ids) tokens, which is what the
 * model card's `tokenizer(pairs, truncation='longest_first', max_length=...)`
 * does to a single sequence: the document loses its tail first, and an
 * over-long query or instruction is cut too rather than failing. The body is
 * not escaped, so "<|im_end|>" typed in a document becomes that token, as in
 * the official code. max_len below len(prefix) + len(suffix) (48) is
 * STATUS_ERR_ARG; exactly 48 gives prefix + suffix with an empty body.
 *
 * The "yes" / "no" ids are the vocabulary entries "yes" and "no" (9693 and
 * 2152 for Qwen3), as the model card's convert_tokens_to_ids("yes") takes.
 */
#ifndef GRATING_QWEN_PROMPT_H
#define GRATING_QWEN_PROMPT_H

#include "tokenize/bpe.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

#define QWEN_PROMPT_PREFIX                                                                         \
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "    \
    "and the Instruct provided. Note that the answer can only be \"yes\" or "                      \
    "\"no\".<|im_end|>\n<|im_start|>user\n"
#define QWEN_PROMPT_SUFFIX "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
#define QWEN_PROMPT_DEFAULT_INSTRUCTION                                                            \
    "Given a web search query, retrieve relevant passages that answer the query"

typedef struct {
    int32_t *prefix_ids; // (n_prefix,)
    size_t n_prefix;
    int32_t *suffix_ids; // (n_suffix,)
    size_t n_suffix;
    int32_t yes_id, no_id;
} qwen_prompt;

// One reranker input. Zero-initialise it; every encode call replaces its
// content and reuses its buffers. After a failed call it is empty (len 0).
typedef struct {
    int32_t *ids; // (len,) prefix, body, suffix
    size_t len;
    size_t n_body; // body tokens kept
    int truncated; // 1 when the body lost tokens to max_len

    // Private.
    size_t cap;
    char *text; // the formatted body
    size_t text_cap;
    bpe_encoding body;
} qwen_prompt_encoding;

// Tokenizes the prefix and suffix and looks up "yes" / "no" (STATUS_ERR_MISSING
// when the vocabulary lacks them).
status qwen_prompt_init(qwen_prompt *qp, const bpe *tok);
void qwen_prompt_free(qwen_prompt *qp);

// The input ids for one (instruction, query, document); instruction NULL means
// the default one. See the top of this file for the truncation rule.
status qwen_prompt_encode(const qwen_prompt *qp, const bpe *tok, const char *instruction,
                          const char *query, size_t query_len, const char *doc, size_t doc_len,
                          size_t max_len, qwen_prompt_encoding *out);

void qwen_prompt_encoding_free(qwen_prompt_encoding *enc);

#endif
