"""OpenAI Batch input files: token counts, errors, and per-replica dispatch directories.

Tokenizers are built here from text the tests write: a BPE with a chat template and a
WordLevel without one (``tokenizers`` + ``transformers``), and a SentencePiece model.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from offline_sched.errors import InputError
from offline_sched.io.batch import read_batch
from offline_sched.io.dispatch_files import (
    check_target,
    is_dispatch_dir,
    with_model,
    write_dispatch,
)

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "energy aware scheduling of language model inference on heterogeneous systems",
    "hello world this is a small test of a tiny tokenizer",
    "summarise translate explain write list describe the water cycle",
] * 20
TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant:{% endif %}")


class WordCounter:
    """A whitespace counter implementing the TokenCounter protocol (no dependencies)."""

    name = "words"
    has_chat_template = False

    def count_texts(self, texts, special_tokens=True):
        return np.array([len(t.split()) + (1 if special_tokens else 0) for t in texts])

    def render_chat(self, messages, body):
        raise NotImplementedError


def line(cid, body, url="/v1/chat/completions", **extra):
    return json.dumps({"custom_id": cid, "method": "POST", "url": url, "body": body, **extra})


def chat(cid, text, max_tokens=32, **body):
    return line(cid, {"model": "m", "messages": [{"role": "user", "content": text}],
                      "max_tokens": max_tokens, **body})


def completion(cid, prompt, max_tokens=32, **body):
    return line(cid, {"model": "m", "prompt": prompt, "max_tokens": max_tokens, **body},
                url="/v1/completions")


def write(tmp_path, lines, name="batch.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n")
    return path


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory, corpus_file):
    """Two HF tokenizer dirs: BPE with a chat template, WordLevel without one."""
    pytest.importorskip("tokenizers", reason="needs the batch extra (tokenizers)")
    pytest.importorskip("transformers", reason="needs the batch extra (transformers)")
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tok")
    specials = ["[UNK]", "<s>", "</s>"]
    out = {}
    for kind in ("bpe", "word"):
        if kind == "bpe":
            tok = Tokenizer(models.BPE(unk_token="[UNK]"))
            trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=specials)
        else:
            tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
            trainer = trainers.WordLevelTrainer(special_tokens=specials)
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train([str(corpus_file)], trainer)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>",
                                       eos_token="</s>", unk_token="[UNK]")
        if kind == "bpe":
            fast.chat_template = TEMPLATE
        fast.save_pretrained(root / kind)
        out[kind] = root / kind
    return out


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory, corpus_file):
    spm = pytest.importorskip("sentencepiece", reason="pip install sentencepiece")
    prefix = tmp_path_factory.mktemp("sp") / "tiny"
    spm.SentencePieceTrainer.train(input=str(corpus_file), model_prefix=str(prefix),
                                   vocab_size=60, model_type="unigram", hard_vocab_limit=False,
                                   minloglevel=2)
    return Path(f"{prefix}.model")


TEXTS = ["the quick brown fox", "hello world", "energy aware scheduling of inference",
         "zebra xylophone unknown words here"]


def mixed_lines():
    lines = []
    for i, t in enumerate(TEXTS):
        lines.append(completion(f"p{i}", t, max_tokens=10 + i))
        lines.append(line(f"c{i}", {"model": "m", "max_tokens": 20 + i, "messages": [
            {"role": "system", "content": "explain the water cycle"},
            {"role": "user", "content": [{"type": "text", "text": t},
                                         {"type": "text", "text": "hello"}]}]}))
    return lines


def test_hf_counts_match_tokenizer_called_directly(tmp_path, hf_dirs):
    from transformers import AutoTokenizer

    path = write(tmp_path, mixed_lines())
    for kind, d in hf_dirs.items():
        tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        batch = read_batch(path, tokenizer=d)
        got = batch.frame.set_index("query_id")["input_tokens"]
        for i, t in enumerate(TEXTS):
            assert got[f"p{i}"] == len(tok(t)["input_ids"])
            msgs = [{"role": "system", "content": "explain the water cycle"},
                    {"role": "user", "content": f"{t}\nhello"}]
            if kind == "bpe":  # chat template: count what the server would feed the model
                ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
                ids = ids["input_ids"] if hasattr(ids, "keys") else ids
                assert got[f"c{i}"] == len(ids)
            else:  # no template: contents joined by newlines, special tokens as in a prompt
                words = "explain the water cycle".split() + t.split() + ["hello"]
                assert got[f"c{i}"] == len(words) + 1  # WordLevel: one id per word, + <s>
                assert got[f"c{i}"] == len(tok("\n".join(m["content"] for m in msgs))
                                           ["input_ids"])
        assert batch.frame["output_tokens"].tolist() == [
            v for i in range(len(TEXTS)) for v in (10 + i, 20 + i)]


def test_hf_tokenizer_saved_with_truncation_and_padding_still_counts_all(tmp_path, hf_dirs):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<p>"]))
    tok.enable_truncation(max_length=3)
    tok.enable_padding(length=8, pad_token="<p>", pad_id=1)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="<p>"
                            ).save_pretrained(tmp_path / "trunc")
    batch = read_batch(write(tmp_path, [completion(f"p{i}", t) for i, t in enumerate(TEXTS)]),
                       tokenizer=tmp_path / "trunc")
    assert batch.frame["input_tokens"].tolist() == [len(t.split()) for t in TEXTS]


def test_sentencepiece_counts_match_processor(tmp_path, sp_model):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    batch = read_batch(write(tmp_path, mixed_lines()), tokenizer=str(sp_model))
    got = batch.frame.set_index("query_id")["input_tokens"]
    bos = 1 if sp.bos_id() >= 0 else 0
    for i, t in enumerate(TEXTS):
        assert got[f"p{i}"] == len(sp.encode(t)) + bos
        joined = f"explain the water cycle\n{t}\nhello"
        assert got[f"c{i}"] == len(sp.encode(joined)) + bos


def test_token_id_prompts_need_no_tokenizer_and_output_rules(tmp_path):
    lines = [completion("ids", [5, 6, 7, 8], max_tokens=9),
             completion("one", [[1, 2]], max_tokens=3),
             line("mct", {"prompt": [1], "max_tokens": 50, "max_completion_tokens": 7},
                  url="/v1/completions"),
             line("n", {"prompt": [1, 2, 3], "max_tokens": 10, "n": 3}, url="/v1/completions"),
             line("field", {"prompt": [1], "max_tokens": 100}, url="/v1/completions",
                  output_tokens=42),
             line("nocap", {"prompt": [4, 4]}, url="/v1/completions", output_tokens=5)]
    batch = read_batch(write(tmp_path, lines))
    f = batch.frame.set_index("query_id")
    assert f["input_tokens"].to_dict() == {"ids": 4, "one": 2, "mct": 1, "n": 3, "field": 1,
                                          "nocap": 2}
    assert f["output_tokens"].to_dict() == {"ids": 9, "one": 3, "mct": 7, "n": 30, "field": 42,
                                           "nocap": 5}
    assert batch.models.tolist() == ["m", "m", None, None, None, None]
    work = batch.to_workload()
    assert len(work) == 6 and list(work.ids) == list(f.index)


def test_output_estimates_override_and_are_clipped_to_the_cap(tmp_path):
    lines = [completion(f"r{i}", [1] * (i + 1), max_tokens=100) for i in range(4)]
    path = write(tmp_path, lines)
    est = tmp_path / "est.csv"
    pd.DataFrame({"custom_id": ["r0", "r2"], "output_tokens": [11, 33]}).to_csv(est,
                                                                               index=False)
    assert read_batch(path, output_tokens=est).frame["output_tokens"].tolist() == [
        11, 100, 33, 100]
    assert read_batch(path, output_tokens={"r3": 7}).frame["output_tokens"].tolist() == [
        100, 100, 100, 7]
    assert read_batch(path, output_tokens=12).frame["output_tokens"].tolist() == [12] * 4
    with pytest.warns(UserWarning, match="clipped"):
        out = read_batch(path, output_tokens={"r1": 500}).frame["output_tokens"].tolist()
    assert out == [100, 100, 100, 100]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"query_id": ["r0", "zz"], "output_tokens": [1, 2]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad\.csv: row 2, column 'query_id', value 'zz'"):
        read_batch(path, output_tokens=bad)


GOOD = completion("ok", [1, 2], max_tokens=4)
ERRORS = [  # (bad line, field named in the message, words in the message)
    ('{"custom_id": "x", "method": "POST",', "<line>", "bad JSON"),
    ("[1, 2]", "<line>", "JSON object"),
    (json.dumps({"method": "POST", "url": "/v1/completions",
                 "body": {"prompt": [1], "max_tokens": 2}}), "custom_id", "missing"),
    (completion("ok", [1], max_tokens=2), "custom_id", "duplicate"),
    (completion(7, [1], max_tokens=2), "custom_id", "string"),
    (line("a", {"prompt": [1]}, url="/v1/completions"), "body.max_tokens", "no max_tokens"),
    (line("a", {"prompt": [1], "max_tokens": 0}, url="/v1/completions"), "body.max_tokens",
     "integer"),
    (line("a", {"prompt": [1], "max_tokens": 2}, url="/v1/embeddings"), "url", "expected"),
    (json.dumps({"custom_id": "a", "method": "GET", "url": "/v1/completions",
                 "body": {"prompt": [1], "max_tokens": 2}}), "method", "POST"),
    (json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/completions"}), "body",
     "missing"),
    (line("a", {"model": "m", "max_tokens": 3}), "body.messages", "missing"),
    (line("a", {"model": "m", "max_tokens": 3}, url="/v1/completions"), "body.prompt",
     "missing"),
    (line("a", {"max_tokens": 3, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}), "body.messages[0].content[0]",
     "text parts"),
    (line("a", {"prompt": ["a", "b"], "max_tokens": 2}, url="/v1/completions"), "body.prompt",
     "one prompt"),
    (chat("a", "needs a tokenizer"), "body.messages", "tokenizer"),
    (line("a", {"prompt": [1], "max_tokens": 2}, url="/v1/completions", output_tokens=-1),
     "output_tokens", "integer"),
]


@pytest.mark.parametrize(("bad", "field", "words"), ERRORS)
def test_errors_name_file_line_and_field(tmp_path, bad, field, words):
    path = write(tmp_path, [GOOD, "", bad, GOOD.replace('"ok"', '"later"')])
    with pytest.raises(InputError) as err:
        read_batch(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: line 3, field {field!r}")  # blank line 2 still counts
    assert words in msg


def test_tokenizer_path_errors(tmp_path):
    with pytest.raises(InputError, match="no requests"):
        read_batch(write(tmp_path, ["", "  "], "blank.jsonl"))
    path = write(tmp_path, [chat("a", "hello world")])
    with pytest.raises(InputError, match="no such file or directory") as err:
        read_batch(path, tokenizer=tmp_path / "nope")
    assert "nope" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "hollow").mkdir()
    with pytest.raises(InputError, match="hollow.*not a Hugging Face tokenizer directory"):
        read_batch(path, tokenizer=tmp_path / "hollow")
    (tmp_path / "fake.model").write_bytes(b"not a model")
    (tmp_path / "vocab.txt").write_text("a b c")
    pytest.importorskip("sentencepiece", reason="pip install sentencepiece")
    with pytest.raises(InputError, match="fake.model.*not a SentencePiece model"):
        read_batch(path, tokenizer=tmp_path / "fake.model")
    with pytest.raises(InputError, match="vocab.txt.*expected a Hugging Face tokenizer dir"):
        read_batch(path, tokenizer=tmp_path / "vocab.txt")


# ---------------------------------------------------------------- dispatch round trip

TRICKY = [  # bodies with "@MODEL@" where body.model's value goes: exactly once, body level
    '{"custom_id": "t0", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '@MODEL@, "messages": [{"role": "user", "content": "say \\"model\\": \\"x\\" and é ✓"}], '
    '"max_tokens": 5}}',
    '{"custom_id":"t1","url":"/v1/chat/completions","method":"POST","body":{"metadata":'
    '{"model":"inner"},"messages":[{"role":"user","content":"a b c"}],"model"  :  @MODEL@,'
    '"max_tokens":6}}',
    '  { "body" : { "max_tokens" : 7 , "model":@MODEL@ , "messages" : [ { "role" : "user" ,'
    ' "content" : "model model" } ] } , "custom_id" : "t2" , "method" : "POST" , "url" : '
    '"/v1/chat/completions" }',
    '{"custom_id": "t3", "method": "POST", "url": "/v1/completions", "body": {"prompt": '
    '"model: one two", "model": @MODEL@, "max_tokens": 8, "temperature": 0.10000}}',
]


def dispatch_case(tmp_path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    templates = []
    for i in range(n):
        kind = i % 6
        if kind < 4:
            templates.append(TRICKY[kind].replace(f'"t{kind}"', f'"t{kind}-{i}"'))
        elif kind == 4:
            templates.append(chat(f"c{i}", "w " * int(rng.integers(1, 9)))
                             .replace('"model": "m"', '"model": @MODEL@'))
        else:
            templates.append(completion(f"p{i}", "v " * int(rng.integers(1, 9)))
                             .replace('"model": "m"', '"model": @MODEL@'))
    original = [t.replace("@MODEL@", '"orig/model"') for t in templates]
    path = tmp_path / "in.jsonl"
    path.write_bytes(("\r\n".join(original) + "\r\n").encode("utf-8"))  # CRLF file
    batch = read_batch(path, tokenizer=WordCounter())
    systems = np.array(["gpu", "m1", "cpu box"])[rng.integers(0, 3, n)]
    replica = rng.integers(0, 4, n)
    start = rng.uniform(0, 100, n)
    plan = pd.DataFrame({"query_id": batch.frame["query_id"].to_numpy()[rng.permutation(n)],
                         "system": systems, "replica": replica, "slot": 0, "start_s": start,
                         "end_s": start + 1.0})
    return templates, batch, plan


def test_round_trip_every_request_once_bytes_kept_except_model(tmp_path):
    templates, batch, plan = dispatch_case(tmp_path)
    cid = {json.loads(t.replace("@MODEL@", '""'))["custom_id"]: t for t in templates}
    serve = {"gpu": "served/gpu-model", "cpu box": "ñ \"quoted\""}
    res = write_dispatch(tmp_path / "out", batch, plan, serve_model=serve)
    out = tmp_path / "out"
    seen = []
    by_query = plan.set_index("query_id")
    for f in res.files:
        data = (out / f.file).read_bytes()
        assert data.endswith(b"\n") and b"\r" not in data
        rows = data.decode("utf-8").split("\n")[:-1]
        assert len(rows) == f.requests
        ids = [json.loads(r)["custom_id"] for r in rows]
        expect_order = by_query.loc[ids].sort_values("start_s").index.tolist()
        assert ids == expect_order  # plan order: by start time
        assert set(by_query.loc[ids, "system"]) == {f.system}
        assert set(by_query.loc[ids, "replica"]) == {f.replica}
        for q, r in zip(ids, rows, strict=True):
            model = serve.get(f.system)
            value = '"orig/model"' if model is None else json.dumps(model, ensure_ascii=False)
            assert r == cid[q].replace("@MODEL@", value)
        seen += ids
    assert sorted(seen) == sorted(batch.frame["query_id"])  # every request exactly once
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["written_by"] == "offline_sched" and manifest["requests"] == len(plan)
    assert sum(e["requests"] for e in manifest["files"]) == len(plan)
    assert {e["file"] for e in manifest["files"]} == {p.name for p in out.glob("*.jsonl")}
    assert "cpu_box-r0.jsonl" in manifest["files"][0]["file"] or any(
        e["file"].startswith("cpu_box-r") for e in manifest["files"])
    for e in manifest["files"]:
        assert hashlib.sha256((out / e["file"]).read_bytes()).hexdigest() == e["sha256"]
    import offline_sched
    assert manifest["tool_version"] == offline_sched.__version__
    assert manifest["source"] == str(tmp_path / "in.jsonl")
    written = pd.read_csv(out / "plan.csv")
    assert len(written) == len(plan) and set(written["query_id"]) == set(plan["query_id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]  # no temp left


def test_unmapped_lines_are_byte_identical_and_missing_model_is_added(tmp_path):
    templates, batch, plan = dispatch_case(tmp_path, n=12, seed=1)
    write_dispatch(tmp_path / "out", batch, plan)
    raw = (tmp_path / "in.jsonl").read_bytes().split(b"\r\n")[:-1]
    got = sorted(b for f in (tmp_path / "out").glob("*.jsonl")
                 for b in f.read_bytes().split(b"\n")[:-1])
    assert got == sorted(raw)
    for raw_line, model in zip(batch.lines, batch.models, strict=True):  # fast path == scan
        assert with_model(raw_line, "X/y", body_has_model=model is not None) == with_model(
            raw_line, "X/y")
    dup = b'{"body":{"model":"a","x":{"model":"q"},"model" :"b"},"custom_id":"d"}'
    assert json.loads(dup)["body"]["model"] == "b"  # JSON readers keep the last duplicate
    assert with_model(dup, "N") == dup.replace(b'"model" :"b"', b'"model" :"N"')
    src = b'{"custom_id":"z","body":{"prompt":[1],"max_tokens":2},"model":"top"}'
    new = with_model(src, "mm")
    assert new == b'{"custom_id":"z","body":{"model": "mm", "prompt":[1],"max_tokens":2},' \
                  b'"model":"top"}'


def test_plan_must_cover_the_batch_exactly(tmp_path):
    _, batch, plan = dispatch_case(tmp_path, n=12)
    cases = [(plan.iloc[1:], "is not in the plan"),
             (pd.concat([plan, plan.iloc[:1]]), "planned twice"),
             (plan.assign(query_id=["zz"] + plan["query_id"].tolist()[1:]), "not a custom_id"),
             (plan.assign(replica=[-1] + plan["replica"].tolist()[1:]), "'replica'"),
             (plan.drop(columns="start_s"), "missing column")]
    for bad, words in cases:
        with pytest.raises(InputError, match=words):
            write_dispatch(tmp_path / "out", batch, bad)
        assert not (tmp_path / "out").exists()


def test_refuses_foreign_directory_and_replaces_its_own_atomically(tmp_path, monkeypatch):
    _, batch, plan = dispatch_case(tmp_path, n=12)
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="refusing"):
        write_dispatch(out, batch, plan)
    with pytest.raises(InputError, match="refusing"):
        check_target(out)
    assert check_target(out, overwrite=True) == out
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        write_dispatch(tmp_path / "afile", batch, plan)
    write_dispatch(out, batch, plan, overwrite=True)
    assert is_dispatch_dir(out) and not (out / "precious.txt").exists()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    # our own directory is replaced without overwrite=True; files of the old plan go away
    write_dispatch(out, batch, plan.assign(system="only", replica=0))
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["only-r0.jsonl"]
    # a failure half-way leaves the previous directory exactly as it was, and no temp dirs
    write_dispatch(out, batch, plan)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_dispatch(out, batch, plan.assign(system="other"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in.jsonl", "out"]
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.undo()
    write_dispatch(empty, batch, plan)  # an empty directory is filled
    assert is_dispatch_dir(empty)


def test_example_batch_file_reads(hf_dirs):
    path = REPO / "examples" / "batch_requests.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = read_batch(path, tokenizer=hf_dirs["bpe"])
    urls = [json.loads(b)["url"] for b in batch.lines]
    assert len(batch) == 20 and {"/v1/chat/completions", "/v1/completions"} == set(urls)
    bodies = [json.loads(b)["body"] for b in batch.lines]
    assert batch.frame["output_tokens"].tolist() == [b["max_tokens"] for b in bodies]
    assert (batch.frame["input_tokens"] >= 1).all()
