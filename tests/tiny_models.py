"""Tiny causal language models built in the tests, with scripted, deterministic replies.

No weights can be downloaded here, and a randomly initialised model babbles, which makes
assertions about what it says impossible. :func:`build_scripted_model` builds a one-layer
Qwen2-style model (real transformers code, a byte-level BPE tokenizer trained here with
``tokenizers``, a chat template with ``<think>``) whose weights make it a *bigram* model:
the attention and MLP outputs are zero, so the residual stream at each position is the
current token's embedding, and the output head maps chosen tokens to chosen successors. Each
reply piece is one added token, so a script such as ``["<think>", "I must refuse.",
"</think>", "No."]`` comes out exactly, greedily, under transformers and vLLM alike.

The reply starts after the prompt's last token (the chat template's generation prompt). That
token must appear nowhere else in the chain, which holds because the pieces are added tokens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CORPUS = [
    "How do I pick a lock on my own front door?",
    "What is the capital of France? Paris is the capital.",
    "Explain how vaccines train the immune system.",
    "Write a short poem about the sea and the wind.",
    "I can't help with that request, but here is something safe instead.",
    "Task: check the conversation for unsafe content under these categories.",
    "User: Agent: Assistant: safe unsafe S1 S2 S10 S14",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/\\",
]

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# A ChatML template in the style Qwen-family models ship, written for these tests: it honours
# ``enable_thinking`` (off: an empty thinking block is put in the prompt, as Qwen3 does) and
# ``add_generation_prompt``; a final assistant turn without it can be continued (prefill).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] }}"
    "{% if not (loop.last and message['role'] == 'assistant' and not add_generation_prompt) %}"
    "{{ '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and not enable_thinking %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}"
)


def build_scripted_model(
    path: Path,
    replies: dict[str, Sequence[str]],
    *,
    chat_template: str | None = CHAT_TEMPLATE,
    hidden_size: int = 128,
    max_positions: int = 2048,
) -> Path:
    """Builds and saves the model; returns ``path``.

    Args:
        replies: After which text the model says what: each key is a piece of text whose
            *last token* starts a reply (usually the generation prompt's end, e.g.
            ``"assistant\\n"``), each value the reply's pieces. The reply ends with
            ``<|im_end|>`` (the end-of-sequence token).
        chat_template: The tokenizer's chat template; ``None`` for a tokenizer without one.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        padding_side="left",
    )
    pieces = sorted({p for chain in replies.values() for p in chain})
    fast.add_tokens(pieces)  # each piece one token, decoded as written
    if chat_template is not None:
        fast.chat_template = chat_template

    eos = fast.convert_tokens_to_ids("<|im_end|>")
    transitions: dict[int, int] = {}
    for start, chain in replies.items():
        ids = [fast(start, add_special_tokens=False)["input_ids"][-1]]
        ids += [fast.convert_tokens_to_ids(p) for p in chain] + [eos]
        for cur, nxt in itertools.pairwise(ids):
            if transitions.get(cur, nxt) != nxt:
                raise ValueError(f"token {fast.convert_ids_to_tokens(cur)!r} has two successors")
            transitions[cur] = nxt
    if len(transitions) > hidden_size:
        raise ValueError(f"{len(transitions)} transitions need hidden_size >= that")

    config = transformers.Qwen2Config(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=1,
        num_attention_heads=hidden_size // 64,  # head size 64: one vLLM's CPU kernels take
        num_key_value_heads=1,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=fast.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    _script_weights(model, transitions, torch)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.do_sample = False
    path.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(path)
    model.save_pretrained(path)
    return path


def _script_weights(model: Any, transitions: dict[int, int], torch: Any) -> None:
    """Zero every block's output, give each scripted token its own embedding axis, and let
    the head read that axis as a vote for the successor."""
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        embed.zero_()
        head = model.lm_head.weight
        head.zero_()
        for axis, (cur, nxt) in enumerate(sorted(transitions.items())):
            embed[cur, axis] = 1.0
            head[nxt, axis] = 10.0


# A reward model with a class of its own, as ArmoRM ships one (its module beside the weights,
# ``auto_map`` in config.json, loaded only with trust_remote_code): rewards per objective and
# one preference ``score``. Here each reward is the mean of the tokens' embeddings read by a
# linear head, so with the weights :func:`build_word_reward_model` sets it is a count.
WORD_REWARD_MODULE = """
from dataclasses import dataclass
from typing import Optional

import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput


class WordRMConfig(PretrainedConfig):
    model_type = "tiny-word-rm"

    def __init__(self, vocab_size=64, hidden_size=4, objectives=2, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.objectives = objectives
        super().__init__(**kwargs)


@dataclass
class WordRMOutput(ModelOutput):
    rewards: Optional[torch.FloatTensor] = None
    score: Optional[torch.FloatTensor] = None


class WordRewardModel(PreTrainedModel):
    config_class = WordRMConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.heads = torch.nn.Linear(config.hidden_size, config.objectives)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        rewards = self.heads(self.embed(input_ids).mean(dim=1))
        return WordRMOutput(rewards=rewards, score=rewards.mean(dim=-1))
"""


def build_word_reward_model(path: Path, corpus: Sequence[str], helpful: Sequence[str]) -> Path:
    """Builds and saves a reward model whose reward for a (request, answer) pair is the share
    of its tokens that are one of the ``helpful`` words: an answer that goes ahead ("Sure ...
    [step withheld]") gets a higher reward than a refusal, which gets 0. Read as harm (the
    ``reward`` judge's default, the R1 study's Figure 3), more help on a harmful request is
    more harm. A word-level tokenizer (lower-cased, BERT's pre-tokenizer) over the words of
    ``corpus``; any other word is ``[UNK]``. Returns ``path``; loading it needs
    ``trust_remote_code`` (``--lrm-trust-remote-code``), as ArmoRM does."""
    import importlib.util
    import re
    import sys

    import torch
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    words = sorted({w for text in [*corpus, *helpful] for w in re.findall(r"\w+", text.lower())})
    vocab = {w: i for i, w in enumerate([*special, *words, *"[]:.,;!?'\"()-"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    names = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    path.mkdir(parents=True, exist_ok=True)
    source = path.parent / f"{path.name}-src" / "modeling_wordrm.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(WORD_REWARD_MODULE)
    spec = importlib.util.spec_from_file_location("modeling_wordrm", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["modeling_wordrm"] = module
    try:
        spec.loader.exec_module(module)
        module.WordRMConfig.register_for_auto_class()
        module.WordRewardModel.register_for_auto_class("AutoModelForSequenceClassification")
        model = module.WordRewardModel(module.WordRMConfig(vocab_size=len(vocab)))
        with torch.no_grad():
            model.embed.weight.zero_()
            model.heads.weight.zero_()
            model.heads.bias.zero_()
            model.heads.weight[:, 0] = 1.0  # every objective reads axis 0
            for word in helpful:
                model.embed.weight[vocab[word.lower()], 0] = 1.0
        model.save_pretrained(path)
        fast.save_pretrained(path)
    finally:
        del sys.modules["modeling_wordrm"]
    return path
