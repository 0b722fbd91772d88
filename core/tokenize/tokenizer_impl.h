/*
 * tokenizer_impl.h - private to core/tokenize: the operations table each
 * implementation file exposes, so the registry (tokenizer_registry.c) can
 * list them and an implementation can name its own table (e.g. as the owner
 * of an encoding's scratch buffers). Everyone else goes through tokenizer.h.
 */
#ifndef GRATING_TOKENIZER_IMPL_H
#define GRATING_TOKENIZER_IMPL_H

#include "tokenize/tokenizer.h"

extern const tokenizer_ops tokenizer_ops_wordpiece_bert; // tok_wordpiece_bert.c
extern const tokenizer_ops tokenizer_ops_bpe_qwen3;      // tok_bpe_qwen3.c

#endif
