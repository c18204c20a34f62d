"""Tiny Hugging Face encoders built offline: a WordPiece BERT and a byte-level BPE RoBERTa, with random
weights and vocabularies trained here on the fixture text (the ``tokenizers`` library), saved as the
hub lays them out (config.json, model.safetensors, tokenizer files)."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import fixture_text_lines
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertModel,
    BertTokenizerFast,
    RobertaConfig,
    RobertaModel,
    RobertaTokenizerFast,
)

SIZES = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 130,
}


def wordpiece_tokenizer(out: Path) -> BertTokenizerFast:
    """A lower-casing WordPiece vocabulary with BERT's special tokens, saved in ``out``."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        fixture_text_lines(), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials)
    )
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tokenizer.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(out)
    return fast


def bpe_tokenizer(out: Path) -> RobertaTokenizerFast:
    """A byte-level BPE vocabulary with RoBERTa's special tokens, saved in ``out``."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(fixture_text_lines(), trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.decoder = decoders.ByteLevel()
    fast = RobertaTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    fast.save_pretrained(out)
    return fast


def tiny_bert(out: Path, seed: int = 0, pooler: bool = True) -> Path:
    """A random 3-layer BERT over a tiny WordPiece vocabulary, saved in ``out`` (safetensors); without
    ``pooler``, as token-classification checkpoints are."""
    tokenizer = wordpiece_tokenizer(out)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_act="gelu", **SIZES)
    model = BertModel(config, add_pooling_layer=pooler)
    model.save_pretrained(out)
    return out


def tiny_roberta(out: Path, seed: int = 0) -> Path:
    """A random 3-layer RoBERTa (one token type) over a tiny byte-level BPE vocabulary, saved in ``out``."""
    tokenizer = bpe_tokenizer(out)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(tokenizer), type_vocab_size=1, pad_token_id=1, **SIZES)
    RobertaModel(config).save_pretrained(out)
    return out
