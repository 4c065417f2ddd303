"""Writes a tiny Llama-architecture model in GGUF for llama.cpp: 2 layers, 64-wide, about 200 word
pieces and the 256 byte tokens, random weights (seeded). It says nothing sensible, but llama.cpp's server
runs it as it runs any model (tokenizing, sampling, streaming, counting usage), so it is a real
OpenAI-compatible upstream that needs nothing downloaded. Needs the `gguf` package (PyPI).

  python tiny_gguf.py OUT.gguf
"""
import sys

import numpy as np
from gguf import GGUFWriter, TokenType

WORDS = """the a an and or but if then so to of in on at for with from by about hello hi thanks
please call back tomorrow morning evening today meeting time name is are was be can will would
could should i you we they he she it my your our their this that these those yes no maybe sure
okay good great fine well very much more less some any all none one two three four five first
next last here there now later soon again secretary anna marina message note reminder office
phone email schedule calendar week day hour minute team client order price model photo picture
image style make create send get give take help ask tell say know think want need like see look
""".split()


BYTES = range(3, 3 + 256)
"""Token ids of the 256 byte tokens (`<0x00>`…`<0xFF>`): SentencePiece's fallback for any
character outside the word pieces (a newline, Cyrillic, the chat template's markers). The server
is told to never sample them (`--logit-bias`), so answers are whole words and valid UTF-8."""


def vocabulary():
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        scores.append(0.0)
        types.append(TokenType.BYTE)
    pieces = ["\u2581" + word for word in WORDS] + list("abcdefghijklmnopqrstuvwxyz") + list(".,!?") + ["\u2581"]
    for rank, piece in enumerate(dict.fromkeys(pieces)):
        tokens.append(piece)
        scores.append(-float(rank))
        types.append(TokenType.NORMAL)
    return tokens, scores, types


def main(path):
    rng = np.random.default_rng(20261207)
    tokens, scores, types = vocabulary()
    vocab, width, layers, heads, ff = len(tokens), 64, 2, 4, 128
    writer = GGUFWriter(path, "llama")
    writer.add_name("atelier-tiny-random")
    writer.add_context_length(8192)
    writer.add_embedding_length(width)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(width // heads)
    writer.add_vocab_size(vocab)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    # numpy shapes are ggml's reversed: (out, in) for a matrix.
    writer.add_tensor("token_embd.weight", weight(vocab, width))
    for block in range(layers):
        writer.add_tensor(f"blk.{block}.attn_norm.weight", np.ones(width, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{block}.{name}.weight", weight(width, width))
        writer.add_tensor(f"blk.{block}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"blk.{block}.ffn_gate.weight", weight(ff, width))
        writer.add_tensor(f"blk.{block}.ffn_up.weight", weight(ff, width))
        writer.add_tensor(f"blk.{block}.ffn_down.weight", weight(width, ff))
    writer.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, width))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1])
